import Foundation
import Glibc
import LoomTestSupport
import Testing

/// kill -9 at arbitrary moments of an ingest, then resume: the store must stay consistent after
/// every kill and end up exactly like an uninterrupted ingest.
extension CLITests {
    /// Small shards, so each run seals shards and starts new ones (more moments to die in).
    static let crashEnvironment = ["LOOM_SHARD_BYTES": "20000"]

    struct CrashFixture {
        let temp: ScratchDirectory
        let root: String
        let reference: CLIStore
        let referenceLines: Set<LsLine>
        let referenceStats: StatsJSON
        /// How long the uninterrupted ingest took, process start to exit.
        let cleanSeconds: Double
    }

    /// Small JPEGs in a train/val layout, and a clean ingest of them for comparison.
    ///
    /// Ingest commits every 1,024 images (no flag changes that), so 3,000 images make three
    /// commits per run, each followed by a shard seal (`LOOM_SHARD_BYTES`): kills land between
    /// commits, inside them and inside seals, not only before a run's single commit.
    static func makeCrashFixture(count: Int = 3000) throws -> CrashFixture {
        let temp = try ScratchDirectory()
        let classes = ["c0", "c1", "c2", "c3", "c4"]
        let trainCount = count * 5 / 6
        let train = DatasetMaker.bulk(count: trainCount, classes: classes, split: "train", prefix: "train/", tag: "t")
        let val = DatasetMaker.bulk(count: count - trainCount, classes: classes, split: "val", prefix: "val/", tag: "v")
        try DatasetMaker.write(train + val, into: temp, root: "data")
        let root = temp.appending("data")
        let reference = CLIStore(temp.appending("reference"), environment: crashEnvironment)
        let run = try reference.ok(reference.ingestArguments(root, dataset: "D"))
        let summary = try run.decode(IngestJSON.self)
        guard summary.added == count, summary.rejected.isEmpty else { throw LoomFailure("reference ingest", run: run) }
        return CrashFixture(
            temp: temp, root: root, reference: reference, referenceLines: Set(try reference.ls("D")),
            referenceStats: try reference.stats(), cleanSeconds: run.seconds)
    }

    /// The moment a kill is aimed at: a time after start, or a change the run makes to the store
    /// (seen by polling the store's files), plus an extra delay.
    enum KillTrigger: CustomStringConvertible, CaseIterable {
        /// Right after the process starts (startup, store creation, scan).
        case start
        /// The catalog file exists (migration, setup transaction).
        case catalogExists
        /// The catalog's WAL changed: a transaction just committed or is committing.
        case catalogWrite
        /// A shard file grew: records were written and their commit is on its way (fsync, catalog).
        case shardBytes
        /// A new shard file appeared: the previous one is sealed, the next is being created.
        case newShard

        var description: String {
            switch self {
            case .start: "start"
            case .catalogExists: "catalog exists"
            case .catalogWrite: "catalog write"
            case .shardBytes: "shard bytes written"
            case .newShard: "new shard file"
            }
        }
    }

    /// Sizes of the shard files and the catalog WAL's change time.
    struct StoreFiles: Equatable {
        var catalogExists = false
        var walChange: Int64 = -1
        var shards: [String: Int] = [:]

        init(_ store: CLIStore) {
            var info = stat()
            catalogExists = stat(store.catalogPath, &info) == 0
            if stat(store.catalogPath + "-wal", &info) == 0 {
                walChange = Int64(info.st_mtim.tv_sec) * 1_000_000_000 + Int64(info.st_mtim.tv_nsec) + Int64(info.st_size)
            }
            guard let dir = opendir(store.shardsDirectory) else { return }
            defer { closedir(dir) }
            while let entry = readdir(dir) {
                let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                    String(decoding: raw.prefix(while: { $0 != 0 }), as: UTF8.self)
                }
                guard name.hasSuffix(".loom"), stat(store.shardsDirectory + "/" + name, &info) == 0 else { continue }
                shards[name] = Int(info.st_size)
            }
        }

        func fired(_ trigger: KillTrigger, since baseline: StoreFiles) -> Bool {
            switch trigger {
            case .start: true
            case .catalogExists: catalogExists
            case .catalogWrite: walChange != baseline.walChange && walChange != -1
            case .shardBytes: shards.contains { name, size in size > (baseline.shards[name] ?? 32) }
            case .newShard: shards.keys.contains { baseline.shards[$0] == nil }
            }
        }
    }

    /// What a killed run left.
    struct KillOutcome: CustomStringConvertible {
        var trigger: KillTrigger
        var delay: Double
        /// The trigger never fired: the run ended by itself.
        var finishedFirst: Bool
        /// Images of the dataset in the catalog before and after the run.
        var imagesBefore: Int
        var imagesAfter: Int
        /// verify found a catalog without its schema (the kill hit the store's creation).
        var unmigratedCatalog = false
        var description: String {
            String(format: "kill at %@ + %.1f ms%@%@ (%d -> %d images)", trigger.description, delay * 1000,
                   finishedFirst ? " (had finished)" : "", unmigratedCatalog ? " (catalog not migrated yet)" : "",
                   imagesBefore, imagesAfter)
        }
    }

    static func imageCount(_ store: CLIStore) throws -> Int {
        guard FileManager.default.fileExists(atPath: store.catalogPath) else { return 0 }
        let run = try store.run(["stats", "--json"])
        // A store whose creation was killed may have no schema yet: no images either.
        guard run.succeeded else { return 0 }
        return try run.decode(StatsJSON.self).images(of: "D")
    }

    /// Starts an ingest, SIGKILLs it `delay` seconds after `trigger` fires, and checks the store
    /// with `loom verify`.
    static func killIngest(_ fixture: CrashFixture, into store: CLIStore, at trigger: KillTrigger, delay: Double,
                           imagesBefore before: Int) throws -> KillOutcome {
        let baseline = StoreFiles(store)
        let child = try store.start(store.ingestArguments(fixture.root, dataset: "D"))
        let deadline = ContinuousClock.now + .seconds(60)
        var fired = false
        while child.isRunning && ContinuousClock.now < deadline {
            if StoreFiles(store).fired(trigger, since: baseline) {
                fired = true
                break
            }
            usleep(100)
        }
        if fired && delay > 0 { usleep(useconds_t(delay * 1_000_000)) }
        child.kill()
        let run = child.wait(timeout: .seconds(60))
        if !run.signaled && !run.succeeded {
            throw LoomFailure("ingest failed on its own (not killed) at \(trigger) + \(delay) s", run: run)
        }
        var outcome = KillOutcome(trigger: trigger, delay: delay, finishedFirst: !run.signaled, imagesBefore: before,
                                  imagesAfter: before)
        guard FileManager.default.fileExists(atPath: store.catalogPath) else {
            // Killed before it created anything: nothing to verify yet.
            return outcome
        }
        let (verify, report) = try store.verify()
        if verify.status != 0 || !report.ok {
            // Dying while the store itself is first created can leave a catalog with no schema
            // yet; the next writer migrates it. Anything else is a real inconsistency.
            let unmigrated = !baseline.catalogExists && verify.stderrText.contains("schema version 0")
            if !unmigrated {
                throw LoomFailure("verify after \(outcome) is not clean", run: verify)
            }
            outcome.unmigratedCatalog = true
        }
        outcome.imagesAfter = try imageCount(store)
        return outcome
    }

    /// Kills ingests into `store` by `plan` (stopping early once the dataset is complete), then
    /// `randomRounds` more at random triggers and delays.
    static func killRepeatedly(_ fixture: CrashFixture, into store: CLIStore, plan: [(KillTrigger, Double)],
                               randomRounds: Int, seed: UInt64) throws -> [KillOutcome] {
        var kills: [KillOutcome] = []
        var rng = SeededGenerator(seed: seed)
        let total = fixture.referenceLines.count
        var current = try imageCount(store)
        let randomPlan: [(KillTrigger, Double)] = (0..<randomRounds).map { _ in
            let triggers = KillTrigger.allCases
            let trigger = triggers[Int(rng.next() % UInt64(triggers.count))]
            // From start: anywhere in a clean run; after a store event: within a few milliseconds.
            let delay = trigger == .start ? fixture.cleanSeconds * rng.nextUnit() : 0.004 * rng.nextUnit()
            return (trigger, delay)
        }
        for (trigger, delay) in plan + randomPlan {
            if current >= total { break }
            let outcome = try killIngest(fixture, into: store, at: trigger, delay: delay, imagesBefore: current)
            kills.append(outcome)
            current = outcome.imagesAfter
        }
        print("kills (clean ingest \(String(format: "%.2f", fixture.cleanSeconds)) s): \(kills)")
        return kills
    }

    /// Runs the ingest to completion and compares the store with the uninterrupted reference.
    static func expectResumedEqualsReference(_ fixture: CrashFixture, _ store: CLIStore, kills: [KillOutcome],
                                             sourceLocation: SourceLocation = #_sourceLocation) throws {
        let final = try store.ingest(fixture.root, dataset: "D")
        #expect(final.rejected.isEmpty, "\(final.rejected)", sourceLocation: sourceLocation)
        try store.expectClean("after the resumed ingest (kills: \(kills))")
        let lines = Set(try store.ls("D"))
        #expect(lines == fixture.referenceLines,
                "resumed listing differs from a clean ingest after \(kills): missing \(fixture.referenceLines.subtracting(lines).sorted { $0.path < $1.path }.prefix(5)), extra \(lines.subtracting(fixture.referenceLines).sorted { $0.path < $1.path }.prefix(5))",
                sourceLocation: sourceLocation)
        let stats = try store.stats()
        #expect(stats.datasets == fixture.referenceStats.datasets, "stats datasets differ after \(kills)", sourceLocation: sourceLocation)
        #expect(stats.blobs.count == fixture.referenceStats.blobs.count, sourceLocation: sourceLocation)
        #expect(stats.blobs.originalBytes == fixture.referenceStats.blobs.originalBytes, sourceLocation: sourceLocation)

        // A third run finds everything in place.
        let again = try store.ingest(fixture.root, dataset: "D")
        #expect(again.added == 0 && again.duplicates == 0 && again.updated == 0 && again.unchanged == fixture.referenceLines.count,
                "\(again)", sourceLocation: sourceLocation)

        // gc drops what the killed runs left behind and keeps the rest readable.
        try store.ok(["gc", "--json"])
        let afterGC = try store.expectClean("after gc")
        #expect(afterGC.records == fixture.referenceStats.blobs.count, sourceLocation: sourceLocation)
        #expect(Set(try store.ls("D")) == fixture.referenceLines, "gc changed the listing", sourceLocation: sourceLocation)
        #expect(try store.stats().blobs.storedBytes == fixture.referenceStats.blobs.storedBytes, sourceLocation: sourceLocation)
        // Spot-check bytes after gc moved records around.
        let sorted = fixture.referenceLines.sorted { $0.path < $1.path }
        for line in stride(from: 0, to: sorted.count, by: max(1, sorted.count / 8)).map({ sorted[$0] }) {
            let bytes = try store.cat(line.digest)
            #expect(try [UInt8](bytes) == Files.read(fixture.root + "/" + line.path), "cat \(line.path) after gc", sourceLocation: sourceLocation)
        }
    }

    @Test("kill -9 during ingest at several moments; verify stays clean and a rerun matches a clean ingest")
    func killDuringIngestThenResume() throws {
        let fixture = try Self.makeCrashFixture()
        let store = CLIStore(fixture.temp.appending("killed"), environment: Self.crashEnvironment)
        let plan: [(KillTrigger, Double)] = [
            (.start, 0.005), (.start, 0.02), (.start, 0.06),   // startup, store creation
            (.catalogExists, 0),                                 // migration, setup
            (.catalogWrite, 0),                                  // right after the setup commit
            (.shardBytes, 0),                                    // records written, before their commit
            (.shardBytes, 0.002),                                // fsync / catalog commit
            (.newShard, 0),                                      // after a seal, creating the next shard
            (.newShard, 0.001),
            (.shardBytes, 0.001),
        ]
        let kills = try Self.killRepeatedly(fixture, into: store, plan: plan, randomRounds: 2, seed: 20_250_501)
        // The test means something only if kills landed inside the work, not only at startup.
        let midIngest = kills.filter { $0.trigger != .start && !$0.finishedFirst && $0.imagesBefore < fixture.referenceLines.count }
        #expect(midIngest.count >= 4, "too few kills interrupted real work: \(kills)")
        try Self.expectResumedEqualsReference(fixture, store, kills: kills)
    }

    @Test("kill -9 loop (30 kills at random moments; rm + gc between cycles)",
          .enabled(if: ProcessInfo.processInfo.environment["LOOM_HEAVY_TESTS"] == "1"))
    func killLoopHeavy() throws {
        let fixture = try Self.makeCrashFixture(count: 12_000)
        let store = CLIStore(fixture.temp.appending("killed"), environment: Self.crashEnvironment)
        var kills: [KillOutcome] = []
        let seed = UInt64(Date().timeIntervalSince1970)
        print("kill loop seed \(seed)")
        var cycle: UInt64 = 0
        while kills.count < 30 {
            kills += try Self.killRepeatedly(fixture, into: store, plan: [], randomRounds: 30 - kills.count, seed: seed &+ cycle)
            cycle += 1
            if kills.count < 30 {
                // The kills let the dataset complete: delete it, gc the crash leftovers with it,
                // and start over, so there is work left to interrupt.
                try store.ok(["ingest", fixture.root, "--dataset", "D"])
                try store.ok(["rm", "--dataset", "D"])
                try store.ok(["gc"])
                try store.expectClean("after rm + gc in cycle \(cycle)")
            }
        }
        try Self.expectResumedEqualsReference(fixture, store, kills: kills)
    }
}

extension CLITests {
    @Test("kill -9 during gc: verify stays clean, the surviving dataset is intact, a rerun of gc finishes the job")
    func killDuringGC() throws {
        let temp = try ScratchDirectory()
        let classes = ["c0", "c1", "c2"]
        let all = DatasetMaker.bulk(count: 2400, classes: classes, split: "train", tag: "gc")
        try DatasetMaker.write(all, into: temp, root: "A")
        // B holds every other file of A: after `rm A` every shard is half dead, half live, so gc
        // copies records, seals and creates shards, and repoints rows.
        let kept = all.enumerated().filter { $0.offset % 2 == 0 }.map(\.element)
        try DatasetMaker.write(kept, into: temp, root: "B")
        let store = CLIStore(temp.appending("store"), environment: Self.crashEnvironment)
        try store.ingest(temp.appending("A"), dataset: "A")
        try store.ingest(temp.appending("B"), dataset: "B")
        let listing = Set(try store.ls("B"))
        #expect(listing.count == kept.count)
        try store.ok(["rm", "--dataset", "A"])

        var kills: [String] = []
        let plan: [(KillTrigger, Double)] = [
            (.catalogWrite, 0), (.shardBytes, 0), (.shardBytes, 0.002), (.newShard, 0), (.catalogWrite, 0.003), (.newShard, 0.002),
        ]
        for (trigger, delay) in plan {
            let baseline = StoreFiles(store)
            let child = try store.start(["gc", "--json"])
            let deadline = ContinuousClock.now + .seconds(60)
            var fired = false
            while child.isRunning && ContinuousClock.now < deadline {
                if StoreFiles(store).fired(trigger, since: baseline) { fired = true; break }
                usleep(100)
            }
            if fired && delay > 0 { usleep(useconds_t(delay * 1_000_000)) }
            child.kill()
            let run = child.wait(timeout: .seconds(60))
            #expect(run.signaled || run.succeeded, "gc failed on its own\n\(run)")
            kills.append("\(trigger) + \(delay * 1000) ms\(run.signaled ? "" : " (had finished)")")
            try store.expectClean("after killing gc at \(trigger) + \(delay) s")
            #expect(Set(try store.ls("B")) == listing, "B's listing changed after killing gc at \(trigger)")
            if !run.signaled { break }
        }
        print("gc kills: \(kills)")
        #expect(kills.count >= 3, "gc finished before enough kills landed: \(kills)")

        // A full gc finishes the job.
        try store.ok(["gc", "--json"])
        try store.expectClean("after the final gc")
        let stats = try store.stats()
        #expect(stats.blobs.count == kept.count, "\(stats.blobs)")
        #expect(Set(try store.ls("B")) == listing)
        for image in stride(from: 0, to: kept.count, by: kept.count / 6).map({ kept[$0] }) {
            let bytes = try store.cat(String(listing.first { $0.path == image.path }!.digest))
            #expect([UInt8](bytes) == image.bytes, "cat of \(image.path) after gc kills")
        }
        // Shard files on disk are exactly those the catalog knows (orphans were cleaned up by
        // the writers that came after the kills).
        let onDisk = try store.shardFiles()
        #expect(onDisk.count == stats.shards.count, "\(onDisk.keys.sorted()) vs \(stats.shards)")
    }
}
