import Foundation
import LoomStore
import LoomTestSupport
import Testing

extension CLITests {
    @Test("loom copy: local -> fleet -> local round-trips every real image, class, caption, prompt and synthetic image with its bytes; a second copy writes nothing; a target that numbers a class differently is refused",
          FleetEngines.required)
    func copyRoundTripsThroughAFleetStore() async throws {
        let engines = try await FleetEngines.start(prefix: "copy")
        let temp = try ScratchDirectory()
        try DatasetMaker.write(DatasetMaker.pictures(classes: ["b", "c"], perClass: 3, split: "train", seed: 41)
                               + DatasetMaker.pictures(classes: ["b", "c"], perClass: 2, split: "val", seed: 42),
                               into: temp, root: "first")
        // A class only the second ingest brings ("a", before the others in byte order) is
        // labelled after them: the copy must keep label 2, not renumber by name.
        try DatasetMaker.write(DatasetMaker.pictures(classes: ["a"], perClass: 2, split: "train", seed: 43), into: temp, root: "second")
        try DatasetMaker.write(DatasetMaker.pictures(classes: ["x", "y"], perClass: 2, split: "train", seed: 44), into: temp, root: "other")

        let local = CLIStore(temp.appending("local"))
        try local.ingest(temp.appending("first"), dataset: "d")
        try local.ingest(temp.appending("second"), dataset: "d", ["--split", "train"])
        try local.ingest(temp.appending("other"), dataset: "other")
        try local.ok(["caption", "run", "--dataset", "d", "--split", "train", "--backend", "builtin:stats"])
        for strategy in ["class-name", "class-caption"] {
            try local.ok(["prompts", "--dataset", "d", "--strategy", strategy])
        }
        try local.ok(["generate", "--dataset", "d", "--prompts", "class-caption", "--backend", "builtin:procedural",
                      "--per-prompt", "2", "--seed", "9", "--size", "64x64"])
        try local.ok(["generate", "--dataset", "d", "--prompts", "class-name", "--backend", "builtin:procedural",
                      "--per-prompt", "3", "--seed", "9", "--size", "48x48"])

        let fleet = engines.workingFolder(temp.appending("fleet"))
        try fleet.ok(["init"] + engines.flags)
        let toFleet = try local.ok(["copy", "--to", temp.appending("fleet"), "--json"], environment: engines.environment)
            .decode(CopyJSON.self)
        let localStats = try local.stats()
        #expect(toFleet.datasets == ["d", "other"] && toFleet.blobs_copied == localStats.blobs.count && toFleet.blobs_present == 0,
                "\(toFleet) vs \(localStats.blobs.count) blobs")
        #expect(toFleet.synthetic > 0 && toFleet.captions > 0 && toFleet.prompts > toFleet.captions, "\(toFleet)")

        let again = try local.ok(["copy", "--to", temp.appending("fleet"), "--json"], environment: engines.environment)
            .decode(CopyJSON.self)
        #expect(again.blobs_copied == 0 && again.bytes_copied == 0, "a second copy writes no bytes: \(again)")
        #expect(again.real_images == toFleet.real_images && again.synthetic == toFleet.synthetic, "\(again)")

        // Back from the fleet (named by the fleet folder's store.json) into a fresh embedded store.
        let back = CLIStore(temp.appending("back"))
        let fromFleet = try fleet.ok(["copy", "--to", temp.appending("back"), "--dataset", "d", "--json"]).decode(CopyJSON.self)
        #expect(fromFleet.datasets == ["d"], "\(fromFleet)")

        for store in [fleet, back] {
            #expect(try store.ls("d") == local.ls("d"), "real images, classes and labels")
            let rows = try Self.catalogRows(store, dataset: "d"), expected = try Self.catalogRows(local, dataset: "d")
            #expect(rows.count == expected.count && rows == expected, "captions, prompts, lineage: \(rows.count) rows, \(expected.count) expected; first differing: \(zip(rows, expected).first { $0 != $1 }.map { "\($0)\n vs \($1)" } ?? "none")")
            let stream = ["stream", "--dataset", "d", "--batch", "4", "--size", "32", "--seed", "2", "--json"]
            #expect(streamBatches(try store.ok(stream)) == streamBatches(try local.ok(stream)), "the same batches, byte for byte")
            try store.expectClean("after loom copy")
        }
        #expect(try fleet.ls("other") == local.ls("other"))
        #expect(try back.stats().images(of: "other") == 0, "--dataset d copied d only")
        for line in try local.ls("d").prefix(3) {
            #expect(try back.cat(line.digest) == local.cat(line.digest))
        }

        // A target whose dataset numbers the classes another way is refused before anything is written.
        let clash = CLIStore(temp.appending("clash"))
        try clash.ingest(temp.appending("second"), dataset: "d", ["--split", "train"])
        let refused = try local.run(["copy", "--to", temp.appending("clash"), "--dataset", "d"])
        #expect(!refused.succeeded && refused.stderrText.contains("class b is label 0 in the source but 1 in the target"), "\(refused)")
        #expect(try clash.stats().images(of: "d") == 2)
    }

    @Test("fleet store: lineage, synthetic, order, cache build, train, experiment, rm and gc answer as on the local store the fleet was copied from",
          FleetEngines.required)
    func fleetCommandsMatchTheLocalStore() async throws {
        let engines = try await FleetEngines.start(prefix: "commands")
        let temp = try ScratchDirectory()
        try Self.trainingData(temp)
        let local = CLIStore(temp.appending("local"))
        try local.ingest(temp.appending("data"), dataset: "d")
        try local.ingest(temp.appending("data"), dataset: "spare")
        try local.ok(["caption", "--dataset", "d", "--split", "train", "--backend", "builtin:stats"])
        try local.ok(["prompts", "--dataset", "d", "--strategy", "class-caption"])
        try local.ok(["generate", "--dataset", "d", "--prompts", "class-caption", "--backend", "builtin:procedural",
                      "--per-prompt", "1", "--seed", "4", "--size", "32x32"])
        let fleet = engines.workingFolder(temp.appending("fleet"), viaVariables: true)
        try fleet.ok(["init"])
        try local.ok(["copy", "--to", temp.appending("fleet")], environment: engines.environment)

        func same(_ arguments: [String], _ what: String) throws {
            let here = try fleet.ok(arguments), there = try local.ok(arguments)
            #expect(here.stdoutText == there.stdoutText && !here.stdoutText.isEmpty, "\(what): \(here.stdoutText.prefix(400)) vs \(there.stdoutText.prefix(400))")
        }
        let synthetic = try local.ok(["synthetic", "--dataset", "d", "--json"]).decodeLines(SyntheticLine.self)
        try same(["synthetic", "--dataset", "d", "--json"], "synthetic")
        try same(["lineage", synthetic[0].digest, "--json"], "lineage of a synthetic image")
        try same(["order", "--selection", "d:synthetic:class-caption+d:train", "--seed", "3", "--json"], "order of a mixture")

        // Training reads through the shard cache and records epochs and checkpoints in PostgreSQL:
        // the same seed gives the same losses as on the local store.
        let train = ["train", "--train", "d:train", "--eval", "d:val", "--size", "16", "--batch", "4", "--seed", "9",
                     "--threads", "1", "--epochs", "2", "--json"]
        let fleetEpochs = try fleet.ok(train).decodeLines(TrainLine.self).filter { $0.type == "epoch" }
        let localEpochs = try local.ok(train).decodeLines(TrainLine.self).filter { $0.type == "epoch" }
        #expect(fleetEpochs.count == 2 && fleetEpochs.map(\.loss) == localEpochs.map(\.loss)
                && fleetEpochs.map(\.eval_top1) == localEpochs.map(\.eval_top1), "\(fleetEpochs) vs \(localEpochs)")

        try fleet.ok(["cache", "build", "--dataset", "d", "--split", "train", "--size", "16"])
        let cached = ["stream", "--selection", "d:train", "--batch", "4", "--size", "16", "--seed", "2", "--json"]
        try local.ok(["cache", "build", "--dataset", "d", "--split", "train", "--size", "16"])
        #expect(streamBatches(try fleet.ok(cached)) == streamBatches(try local.ok(cached)), "pixel-cache batches")

        try fleet.ok(["rm", "--dataset", "spare"])
        let gc = try fleet.ok(["gc", "--grace", "0", "--json"])
        #expect(try fleet.stats().images(of: "spare") == 0, "\(gc)")
        #expect(try fleet.ls("d") == local.ls("d"), "gc kept what d holds")
        // The whole experiment (caption, prompts, generate, train, evaluate) on the fleet store.
        let experiment = ["experiment", "--dataset", "d", "--strategies", "class-name", "--epochs", "1", "--size", "16",
                          "--batch", "4", "--threads", "1", "--image-size", "32", "--json"]
        let report = try fleet.ok(experiment + ["--reports", temp.appending("fleet-reports")], timeout: .seconds(300))
        let reference = try local.ok(experiment + ["--reports", temp.appending("local-reports")], timeout: .seconds(300))
        func top1(_ run: LoomRun) throws -> [Double] {
            let summary = try JSONSerialization.jsonObject(with: run.stdout) as? [String: Any]
            return (summary?["results"] as? [[String: Any]] ?? []).compactMap { ($0["summary"] as? [String: Any])?["eval_top1"] as? Double }
        }
        #expect(try top1(report).count == 1 && top1(report) == top1(reference), "\(report.stdoutText.prefix(600))")
        try fleet.expectClean("after train, cache build, rm, gc and an experiment")
    }

    @Test("loom copy killed -9 mid-copy leaves a target that verifies; the same command then finishes the copy, writing only what was missing")
    func copyResumesAfterKill() async throws {
        let temp = try ScratchDirectory()
        let images = try DatasetMaker.write(DatasetMaker.bulk(count: 4000, classes: ["a", "b", "c"], split: "train", tag: "copy-kill"),
                                            into: temp, root: "data")
        let source = CLIStore(temp.appending("source"))
        try source.ingest(temp.appending("data"), dataset: "d")
        let target = CLIStore(temp.appending("target"))
        func copied() throws -> Int {
            guard FileManager.default.fileExists(atPath: temp.appending("target/catalog.sqlite")) else { return 0 }
            let text = try target.ok(["sql", "SELECT count(*) AS n FROM real_images"]).stdoutText
            return Int(text.split(separator: "\n").last.map(String.init) ?? "") ?? 0
        }
        let child = try source.start(["copy", "--to", temp.appending("target")])
        let deadline = ContinuousClock.now + .seconds(60)
        var seen = 0
        while ContinuousClock.now < deadline && child.isRunning {
            seen = (try? copied()) ?? 0
            if seen > 0 { break }
            try await Task.sleep(for: .milliseconds(5))
        }
        child.kill(SIGKILL)
        let killed = child.wait()
        #expect(killed.signaled && seen > 0 && seen < images.count, "killed mid-copy: \(killed), \(seen) rows copied then")
        try target.expectClean("after a kill during loom copy")
        let partial = try copied()

        let rerun = try source.ok(["copy", "--to", temp.appending("target"), "--json"]).decode(CopyJSON.self)
        #expect(rerun.real_images == images.count && rerun.blobs_copied == images.count - partial,
                "\(rerun) after \(partial) were copied")
        #expect(try target.ls("d") == source.ls("d"))
        try target.expectClean("after the rerun")
    }

    struct CopyJSON: Decodable {
        var datasets: [String]
        var real_images: Int
        var captions: Int
        var prompts: Int
        var synthetic: Int
        var blobs_copied: Int
        var bytes_copied: Int
        var blobs_present: Int
    }

    /// A dataset's captions, prompts and lineage as `loom sql` prints them, ids left out, in an
    /// order both engines sort the same way.
    static func catalogRows(_ store: CLIStore, dataset: String) throws -> [String] {
        let queries = [
            """
            SELECT r.path, s.name AS split, cr.name AS captioner, cr.params, cr.backend, c.text
            FROM captions c JOIN real_images r ON r.id = c.real_image_id JOIN splits s ON s.id = r.split_id
            JOIN datasets d ON d.id = s.dataset_id JOIN captioners cr ON cr.id = c.captioner_id
            WHERE d.name = '\(dataset)' ORDER BY s.name, r.path
            """,
            """
            SELECT p.strategy, p.template, p.text, p.tokens, p.token_rule, p.truncated, cl.wnid, cl.label, cl.name, cl.prompt_name
            FROM prompts p JOIN classes cl ON cl.id = p.class_id JOIN datasets d ON d.id = p.dataset_id
            WHERE d.name = '\(dataset)' ORDER BY p.strategy, p.text, cl.wnid
            """,
            """
            SELECT digest, strategy, prompt, caption, captioner, real_digest, real_path, real_split, class, label,
                   generator, generator_version, seed, steps, width, height
            FROM v_lineage WHERE dataset = '\(dataset)' ORDER BY digest, seed
            """,
        ]
        return try queries.flatMap { query in
            try store.ok(["sql", "--json", query]).stdoutText.split(separator: "\n").map(String.init)
        }
    }
}
