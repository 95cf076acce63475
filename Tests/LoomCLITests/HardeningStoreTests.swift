import Foundation
import LoomStore
import LoomTestSupport
import Testing

/// Findings 7, 8, 9 and 11 of the hardening review, driven through the `loom` binary.
extension CLITests {
    /// `{"error": {"code": ..., "message": ...}}`: what a failing command prints on stdout with --json.
    struct ErrorJSON: Decodable {
        struct Body: Decodable { var code: String; var message: String }
        var error: Body
    }

    /// The parts of `loom stats --json` that count what is gone.
    struct MissingStatsJSON: Decodable {
        struct Blobs: Decodable {
            var count: Int
            var missing: Int
            var missingBytes: Int
            enum CodingKeys: String, CodingKey { case count, missing, missingBytes = "missing_bytes" }
        }
        struct Shards: Decodable { var count: Int; var missing: Int; var bytes: Int }
        var blobs: Blobs
        var shards: Shards
    }

    /// `loom repair --json`.
    struct RepairJSON: Decodable {
        struct Lost: Decodable { var digest: String; var shard: String; var reason: String }
        struct Image: Decodable, Hashable { var dataset: String; var split: String; var path: String }
        struct Synthetic: Decodable { var digest: String; var dataset: String; var strategy: String }
        var dryRun: Bool
        var missingShards: [String]
        var lostBlobs: [Lost]
        var realImages: [Image]
        var syntheticImages: [Synthetic]
        var captions: Int
        var prompts: Int
        var ok: Bool

        enum CodingKeys: String, CodingKey {
            case captions, prompts, ok
            case dryRun = "dry_run"
            case missingShards = "missing_shards"
            case lostBlobs = "lost_blobs"
            case realImages = "real_images"
            case syntheticImages = "synthetic_images"
        }
    }

    struct StreamSummaryJSON: Decodable {
        var resume: String
        var batches: Int
        var samples: Int

        /// The summary: the last line of `loom stream --json`.
        static func of(_ run: LoomRun) throws -> StreamSummaryJSON {
            guard let line = run.stdoutText.split(separator: "\n").last else { throw LoomFailure("no output", run: run) }
            return try JSONDecoder().decode(StreamSummaryJSON.self, from: Data(line.utf8))
        }
    }

    @Test("a missing open shard: writes go on, stats counts what is gone, repair drops exactly those rows", .tags(.hardening))
    func missingShardIsRepaired() throws {
        let temp = try ScratchDirectory()
        let lostImages = DatasetMaker.pictures(classes: ["a", "b"], perClass: 2, split: "train", seed: 501)
        let keptImages = DatasetMaker.pictures(classes: ["c"], perClass: 3, split: "train", seed: 502)
        try DatasetMaker.write(lostImages, into: temp, root: "lost")
        try DatasetMaker.write(keptImages, into: temp, root: "kept")
        let store = CLIStore(temp.appending("store"))
        try store.ingest(temp.appending("lost"), dataset: "L")
        try FileManager.default.removeItem(atPath: store.shardsDirectory + "/000001.loom")

        // Writes no longer fail on open; they say what is wrong and what to run.
        let ingest = try store.run(store.ingestArguments(temp.appending("kept"), dataset: "K"))
        #expect(ingest.succeeded, "\(ingest)")
        #expect(ingest.stderrText.contains("000001.loom") && ingest.stderrText.contains("loom repair"), "\(ingest)")

        let stats = try store.ok(["stats", "--json"]).decode(MissingStatsJSON.self)
        #expect(stats.shards.missing == 1 && stats.blobs.missing == lostImages.count, "\(stats)")
        #expect(stats.blobs.missingBytes == lostImages.reduce(0) { $0 + $1.bytes.count + 64 })
        #expect(try store.run(["stats"]).stdoutText.contains("missing"))

        // gc reclaims what it can and leaves the missing shard (rows still point into it) alone.
        struct GCMissing: Decodable { var missing_shards: [String] }
        #expect(try store.ok(["gc", "--json"]).decode(GCMissing.self).missing_shards == ["000001.loom"])

        // --dry-run lists and changes nothing.
        let dry = try store.ok(["repair", "--dry-run", "--json"]).decode(RepairJSON.self)
        #expect(dry.dryRun && dry.missingShards == ["000001.loom"])
        #expect(Set(dry.lostBlobs.map(\.digest)) == Set(lostImages.map { Digest.sha256($0.bytes).hex }))
        #expect(Set(dry.realImages) == Set(lostImages.map { RepairJSON.Image(dataset: "L", split: "train", path: $0.path) }))
        #expect(try store.ls("L").count == lostImages.count)
        #expect(try store.verify().run.status == 1)

        let text = try store.run(["repair", "--dry-run"])
        #expect(text.succeeded && text.stderrText.contains("L/train/" + lostImages[0].path), "\(text)")

        let repaired = try store.ok(["repair", "--json"]).decode(RepairJSON.self)
        #expect(!repaired.dryRun && repaired.ok && repaired.realImages.count == lostImages.count)
        try store.expectClean("after repair")
        #expect(try store.ls("L").isEmpty)
        #expect(Set(try store.ls("K").map(\.path)) == Set(keptImages.map(\.path)))
        for image in keptImages { #expect([UInt8](try store.cat(String(Digest.sha256(image.bytes).hex.prefix(16)))) == image.bytes) }
        let after = try store.ok(["stats", "--json"]).decode(MissingStatsJSON.self)
        #expect(after.shards.missing == 0 && after.blobs.missing == 0 && after.blobs.count == keptImages.count)
        // Nothing left to do, and the other writers work as before.
        let again = try store.ok(["repair", "--json"]).decode(RepairJSON.self)
        #expect(again.lostBlobs.isEmpty && again.missingShards.isEmpty && again.ok)
        try store.ok(["rm", "--dataset", "L", "--json"])
        try store.ok(["gc", "--json"])
        try store.expectClean("after rm and gc")
    }

    @Test("repair of a lost sealed shard names the captions, prompts and synthetic images built on its images", .tags(.hardening))
    func repairReportsLineage() throws {
        let temp = try ScratchDirectory()
        let keptImages = DatasetMaker.pictures(classes: ["a"], perClass: 2, split: "train", seed: 511)
        let lostImages = DatasetMaker.pictures(classes: ["x", "y"], perClass: 1, split: "train", seed: 512)
        try DatasetMaker.write(keptImages, into: temp, root: "kept")
        try DatasetMaker.write(lostImages, into: temp, root: "lost")
        let store = CLIStore(temp.appending("store"), environment: ["LOOM_SHARD_BYTES": "1"])  // one shard per commit
        try store.ingest(temp.appending("kept"), dataset: "K")
        try store.ingest(temp.appending("lost"), dataset: "L")
        try store.ok(["caption", "run", "--dataset", "L", "--backend", "builtin:stats"])
        try store.ok(["prompts", "--dataset", "L", "--strategy", "class-caption"])
        try store.ok(["generate", "--dataset", "L", "--prompts", "class-caption", "--backend", "builtin:procedural",
                      "--per-prompt", "1", "--seed", "0", "--size", "64x64"])
        let lostDigest = Digest.sha256(lostImages[0].bytes).hex
        let info = try store.ok(["cat", "--json", lostDigest]).decode(CatInfo.self)
        let keptShard = try store.ok(["cat", "--json", Digest.sha256(keptImages[0].bytes).hex]).decode(CatInfo.self).shard
        #expect(info.shard != keptShard)
        try FileManager.default.removeItem(atPath: store.shardsDirectory + "/" + info.shard)

        let dry = try store.ok(["verify", "--repair", "--dry-run", "--json"]).decode(RepairJSON.self)
        #expect(dry.dryRun && dry.missingShards == [info.shard])
        #expect(dry.realImages.contains(RepairJSON.Image(dataset: "L", split: "train", path: lostImages[0].path)))
        #expect(dry.captions >= 1 && dry.prompts >= 1, "the lineage built on the lost images is listed: \(dry)")
        #expect(!dry.syntheticImages.isEmpty && dry.syntheticImages.allSatisfy { $0.dataset == "L" && $0.strategy == "class-caption" })

        let repaired = try store.ok(["verify", "--repair", "--json"]).decode(RepairJSON.self)
        #expect(repaired.ok)
        try store.expectClean("after repair")
        #expect(Set(try store.ls("K").map(\.path)) == Set(keptImages.map(\.path)))
        // Both of L's images went in one commit, so into the lost shard; the lineage went with them.
        let left = try store.ls("L")
        #expect(repaired.realImages.count == lostImages.count && left.isEmpty)
        #expect(try store.ok(["synthetic", "--dataset", "L", "--json"]).stdout.isEmpty)
    }

    @Test("verify names each record past a cut; --quick is the cheaper catalog check", .tags(.hardening))
    func verifyIsPrecise() throws {
        let temp = try ScratchDirectory()
        let images = DatasetMaker.pictures(classes: ["a"], perClass: 6, split: "train", seed: 521)
        try DatasetMaker.write(images, into: temp, root: "data")
        let store = CLIStore(temp.appending("store"))
        try store.ingest(temp.appending("data"), dataset: "D")
        let infos = try images.map { try store.ok(["cat", "--json", Digest.sha256($0.bytes).hex]).decode(CatInfo.self) }
        let last = try #require(infos.max { $0.offset < $1.offset })
        let shardPath = store.shardsDirectory + "/000001.loom"
        let bytes = try Files.read(shardPath)
        try Files.write(Array(bytes.prefix(last.offset + 10)), to: shardPath)

        let (run, report) = try store.verify()
        #expect(run.status == 1)
        #expect(report.problems.compactMap(\.digest) == [last.digest], "only the cut record: \(report.problems.map(\.reason))")
        #expect(report.bytes == infos.filter { $0.offset != last.offset }.reduce(0) { $0 + $1.bytes + 64 })
        let text = try store.run(["verify"])
        #expect(!text.stderrText.contains(" 0 B checked"), "\(text)")

        let quick = try store.run(["verify", "--quick", "--json"])
        let quickReport = try quick.decode(VerifyJSON.self)
        #expect(quick.status == 1 && quickReport.catalog == "ok", "\(quick)")
    }

    @Test("loom ls escapes tab, newline and backslash in text output; JSON keeps them exact", .tags(.hardening))
    func lsEscapesNames() throws {
        let temp = try ScratchDirectory()
        let picture = DatasetMaker.image(png: false, width: 32, height: 24, seed: 531)
        let names = ["tab\there.jpg", "new\nline.jpg", "back\\slash.jpg"]
        for (index, name) in names.enumerated() {
            try temp.write(DatasetMaker.commented(picture, "image \(index)"), to: "data/c/" + name)
        }
        let store = CLIStore(temp.appending("store"))
        try store.ingest(temp.appending("data"), dataset: "D")
        #expect(Set(try store.ls("D").map(\.path)) == Set(names.map { "c/" + $0 }))
        let text = try store.ok(["ls", "--dataset", "D"]).stdoutText
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false).dropLast()
        #expect(lines.count == names.count, "one line per image:\n\(text)")
        #expect(lines.allSatisfy { $0.split(separator: "\t", omittingEmptySubsequences: false).count == 4 }, "\(text)")
        for escaped in ["c/tab\\there.jpg", "c/new\\nline.jpg", "c/back\\\\slash.jpg"] {
            #expect(lines.contains { $0.hasSuffix("\t" + escaped) }, "\(escaped) in\n\(text)")
        }
    }

    @Test("with --json, a failing command prints a JSON error object on stdout", .tags(.hardening))
    func jsonErrors() throws {
        let temp = try ScratchDirectory()
        let images = DatasetMaker.pictures(classes: ["a"], perClass: 2, split: "train", seed: 541)
        try DatasetMaker.write(images, into: temp, root: "data")
        let store = CLIStore(temp.appending("store"))
        try store.ingest(temp.appending("data"), dataset: "D")

        let missing = try store.run(["ls", "--dataset", "nope", "--json"])
        #expect(!missing.succeeded && !missing.signaled)
        let error = try missing.decode(ErrorJSON.self)
        #expect(error.error.code == "not-found" && error.error.message.contains("nope"), "\(missing)")
        #expect(missing.stderrText.contains("nope"), "people still read the error on stderr")

        let noStore = try Loom.run(["stats", "--json", "--store", temp.appending("none")])
        #expect(try noStore.decode(ErrorJSON.self).error.code == "no-store", "\(noStore)")

        let badFlag = try store.run(["stream", "--dataset", "D", "--epoch-length", "0", "--json"])
        let flagError = try badFlag.decode(ErrorJSON.self)
        #expect(flagError.error.code == "invalid-argument" && flagError.error.message.contains("--epoch-length"), "\(badFlag)")

        // Without --json, stdout stays empty.
        let plain = try store.run(["ls", "--dataset", "nope"])
        #expect(!plain.succeeded && plain.stdout.isEmpty, "\(plain)")
    }

    @Test("--epoch-length 0 is refused, naming the flag", .tags(.hardening))
    func epochLengthZeroIsRefused() throws {
        let temp = try ScratchDirectory()
        try DatasetMaker.write(DatasetMaker.pictures(classes: ["a"], perClass: 2, split: "train", seed: 551), into: temp, root: "a")
        try DatasetMaker.write(DatasetMaker.pictures(classes: ["b"], perClass: 2, split: "train", seed: 552), into: temp, root: "b")
        let store = CLIStore(temp.appending("store"))
        try store.ingest(temp.appending("a"), dataset: "A")
        try store.ingest(temp.appending("b"), dataset: "B")
        for selection in ["A:train", "A:train+B:train"] {
            let run = try store.run(["stream", "--selection", selection, "--epoch-length", "0", "--size", "16", "--json"])
            #expect(!run.succeeded && !run.signaled && run.stderrText.contains("--epoch-length"), "\(run)")
        }
        let order = try store.run(["order", "--selection", "A:train+B:train", "--epoch-length", "-1"])
        #expect(!order.succeeded && order.stderrText.contains("--epoch-length"), "\(order)")
    }

    @Test("a resume token conflicts with disagreeing flags and with another selection; loom1 tokens still resume", .tags(.hardening))
    func resumeTokenIsChecked() throws {
        let temp = try ScratchDirectory()
        try DatasetMaker.write(DatasetMaker.pictures(classes: ["a", "b"], perClass: 4, split: "train", seed: 561), into: temp, root: "a")
        try DatasetMaker.write(DatasetMaker.pictures(classes: ["c", "d"], perClass: 4, split: "train", seed: 562), into: temp, root: "b")
        let store = CLIStore(temp.appending("store"))
        try store.ingest(temp.appending("a"), dataset: "A")
        try store.ingest(temp.appending("b"), dataset: "B")
        let common = ["--batch", "2", "--size", "16", "--workers", "1", "--json"]
        let first = try store.ok(["stream", "--dataset", "A", "--seed", "4", "--max-batches", "1"] + common)
        let token = try StreamSummaryJSON.of(first).resume
        #expect(token.hasPrefix("loom2.4.0.2.0.1."), "\(token)")

        for (flag, value) in [("--epoch", "7"), ("--rank", "1"), ("--world", "4"), ("--seed", "5")] {
            var arguments = ["stream", "--dataset", "A", "--resume", token, flag, value] + common
            if flag == "--rank" { arguments += ["--world", "2"] }
            let run = try store.run(arguments)
            #expect(!run.succeeded && run.stderrText.contains(flag), "\(flag) \(value) must conflict with \(token)\n\(run)")
        }
        // Flags that agree with the token are fine, and the rest of the epoch follows.
        let rest = try store.ok(["stream", "--dataset", "A", "--resume", token, "--seed", "4", "--epoch", "0"] + common)
        #expect(try StreamSummaryJSON.of(rest).samples == 6, "\(rest)")

        let otherDataset = try store.run(["stream", "--dataset", "B", "--resume", token] + common)
        #expect(!otherDataset.succeeded && otherDataset.stderrText.contains("another selection"), "\(otherDataset)")

        let old = try store.run(["stream", "--dataset", "B", "--resume", "loom1.4.0.2.0.1"] + common)
        #expect(old.succeeded, "a loom1 token carries no fingerprint and is accepted\n\(old)")
    }
}
