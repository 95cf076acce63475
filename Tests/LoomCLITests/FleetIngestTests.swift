import Foundation
import LoomStore
import LoomTestSupport
import Testing

extension CLITests {
    @Test("fleet store: four ingests at once from two working folders (different datasets, one tree into one dataset twice, one tree into two) give exact counts, one blob per content, the tree's files shared out between the processes ingesting it, the local store's listing and stream; a fresh machine reads it byte for byte",
          FleetEngines.required)
    func fleetIngestFromSeveralProcesses() async throws {
        let engines = try await FleetEngines.start()
        let temp = try ScratchDirectory()
        let a = try DatasetMaker.write(DatasetMaker.pictures(classes: ["cat", "dog", "owl"], perClass: 10, split: "train", seed: 5)
                                       + DatasetMaker.bulk(count: 600, classes: ["cat", "dog"], split: "train", prefix: "", tag: "fleet-a"),
                                       into: temp, root: "a")
        // b shares four pictures with a, under other names: one blob each across writers.
        let shared = a.prefix(4).enumerated().map { index, image in
            SourceImage(path: "fox/shared_\(index).\(image.name.hasSuffix("png") ? "png" : "jpg")", split: "train", class: "fox",
                        name: "shared_\(index)", width: image.width, height: image.height, bytes: image.bytes)
        }
        let b = try DatasetMaker.write(DatasetMaker.bulk(count: 1200, classes: ["fox", "hen"], split: "train", tag: "fleet-b") + shared,
                                       into: temp, root: "b")

        // `loom init` records the engines; later commands in that folder need only --store.
        let first = engines.workingFolder(temp.appending("work-1"))
        let initRun = try first.ok(["init", "--json"] + engines.flags)
        #expect(initRun.stdoutText.contains("\"kind\":\"fleet\"") && !initRun.stdoutText.contains(PostgresServer.password), "\(initRun)")
        let recorded = temp.appending("work-1/store.json")
        let mode = (try FileManager.default.attributesOfItem(atPath: recorded)[.posixPermissions] as? NSNumber)?.intValue
        #expect(mode == 0o600, "store.json holds a password: mode \(String(mode ?? 0, radix: 8))")

        let second = engines.workingFolder(temp.appending("work-2"), viaVariables: true)
        let writers = [
            try first.start(first.ingestArguments(temp.appending("a"), dataset: "a")),
            try second.start(second.ingestArguments(temp.appending("b"), dataset: "b")),
            try first.start(first.ingestArguments(temp.appending("a"), dataset: "a-again")),
            try second.start(second.ingestArguments(temp.appending("a"), dataset: "a")),
        ]
        let runs = writers.map { $0.wait(timeout: .seconds(180)) }
        for run in runs { #expect(run.succeeded, "\(run)") }
        guard runs.allSatisfy(\.succeeded) else { return }
        // The two ingests of tree a into dataset a shared its files: each file was read by one of them.
        let sharing = try [runs[0], runs[3]].map { try $0.decode(IngestJSON.self) }
        let read = sharing.map { $0.added + $0.duplicates + $0.updated + $0.rejected.count }
        #expect(read.reduce(0, +) == a.count, "files read by the two ingests of a: \(read), of \(a.count)")
        for summary in sharing {
            #expect(summary.added + summary.duplicates + summary.updated + summary.unchanged + (summary.elsewhere ?? 0) == a.count,
                    "every file of the tree counted once in each summary: \(summary)")
        }

        // The same trees in an embedded store, one after another: the reference.
        let local = CLIStore(temp.appending("local"))
        try local.ingest(temp.appending("a"), dataset: "a")
        try local.ingest(temp.appending("b"), dataset: "b")
        try local.ingest(temp.appending("a"), dataset: "a-again")

        // A third machine: an empty working folder, engines from the variables.
        let reader = engines.workingFolder(temp.appending("work-3"), viaVariables: true)
        let stats = try reader.stats()
        #expect(stats.images(of: "a") == a.count && stats.images(of: "b") == b.count && stats.images(of: "a-again") == a.count,
                "\(stats.datasets.map { ($0.name, $0.images) })")
        let localBlobs = try local.stats().blobs.count
        #expect(stats.blobs.count == localBlobs, "one blob per distinct content across the writers")
        for dataset in ["a", "b", "a-again"] {
            #expect(try reader.ls(dataset) == local.ls(dataset), "ls \(dataset)")
        }
        let arguments = ["stream", "--dataset", "b", "--batch", "8", "--size", "32", "--seed", "3", "--json"]
        #expect(streamBatches(try reader.ok(arguments)) == streamBatches(try local.ok(arguments)), "the same batches as the local store")
        for image in [a[0], b[b.count - 1]] {
            let digest = Digest.sha256(image.bytes).hex
            #expect(try reader.cat(digest) == Data(image.bytes), "cat \(image.path)")
        }
        let verify = try reader.expectClean("on the fleet store")
        #expect(verify.records == stats.blobs.count, "verify checked \(verify.records) of \(stats.blobs.count) records")
        // A writer's own folder reads back from the shards it moved into its cache.
        let cached = (try? FileManager.default.contentsOfDirectory(atPath: temp.appending("work-1/shard-cache"))) ?? []
        #expect(!cached.isEmpty, "the writers' uploaded shards were not kept in their cache")
        try first.expectClean("in a writer's own working folder")
        // The writers' staging folders are gone with them.
        let staging = (try? FileManager.default.contentsOfDirectory(atPath: temp.appending("work-1/tmp"))) ?? []
        #expect(staging.isEmpty, "left in work-1/tmp: \(staging)")
    }

    @Test("fleet store: two ingests of one tree share it; one is killed -9 holding a share, and the other takes that share once the lease runs out: every file ingested once, as in a local ingest",
          FleetEngines.required)
    func fleetIngestWithAKilledProcess() async throws {
        let engines = try await FleetEngines.start(prefix: "ingestkill")
        let temp = try ScratchDirectory()
        let images = try DatasetMaker.write(DatasetMaker.bulk(count: 3000, classes: ["a", "b", "c"], split: "train", tag: "ingest-kill"),
                                            into: temp, root: "data")
        let machines = (0..<2).map { engines.workingFolder(temp.appending("machine-\($0)"), viaVariables: true) }
        func sql(_ query: String) throws -> [String] {
            try machines[0].ok(["sql", "--json", query]).stdoutText.split(separator: "\n").map(String.init)
        }
        let arguments = machines[0].ingestArguments(temp.appending("data"), dataset: "d", ["--lease", "2", "--workers", "1"])
        let victim = try machines[1].start(arguments)
        let deadline = ContinuousClock.now + .seconds(60)
        var held: [String] = []
        while ContinuousClock.now < deadline && victim.isRunning {
            held = (try? sql("SELECT key FROM jobs WHERE state = 'pending' AND lease_owner LIKE '%/\(victim.pid)/%'")) ?? []
            if !held.isEmpty { break }
            try await Task.sleep(for: .milliseconds(10))
        }
        victim.kill(SIGKILL)
        let killed = victim.wait()
        #expect(killed.signaled && !held.isEmpty, "the victim was killed holding a share: \(killed), \(held)")

        let survivor = try machines[0].ok(arguments, timeout: .seconds(240)).decode(IngestJSON.self)
        #expect(survivor.added + survivor.duplicates + survivor.unchanged + (survivor.elsewhere ?? 0) == images.count, "\(survivor)")
        let local = CLIStore(temp.appending("local"))
        try local.ingest(temp.appending("data"), dataset: "d")
        #expect(try machines[0].ls("d") == local.ls("d"), "the same rows as a local ingest")
        #expect(try sql("SELECT count(*) AS n FROM jobs j JOIN runs r ON r.id = j.run_id WHERE r.stage = 'ingest' AND j.state <> 'done'")
                == [#"{"n":0}"#], "every share done")
        try machines[1].expectClean("after an ingest killed holding a share")
    }
}

