import Foundation
import LoomTestSupport
import Testing

extension CLITests {
    @Test("readers run beside a long ingest: always clean, counts only grow; a second writer is refused")
    func readersDuringIngest() throws {
        let temp = try ScratchDirectory()
        let count = 12000
        let images = DatasetMaker.bulk(count: count, classes: (0..<20).map { "class\($0)" }, split: "train", bases: 12,
                                       baseSize: (32, 24), tag: "r")
        try DatasetMaker.write(images, into: temp, root: "big")
        let small = DatasetMaker.pictures(classes: ["s"], perClass: 2, split: "train", seed: 81)
        try DatasetMaker.write(small, into: temp, root: "small")
        // Shards seal every commit or so, so readers also meet seals and new shards.
        let store = CLIStore(temp.appending("store"), environment: ["LOOM_SHARD_BYTES": "300000"])
        // Create the store first, so every reader below finds a catalog.
        try store.ok(["gc"])

        // One worker keeps the ingest long enough for many reader runs.
        let writer = try store.start(store.ingestArguments(temp.appending("big"), dataset: "big", ["--workers", "1"]))
        defer { writer.kill() }

        // Wait until the writer holds the store's lock (it writes its pid into writer.lock).
        let lockPath = store.path + "/writer.lock"
        let deadline = ContinuousClock.now + .seconds(30)
        while writer.isRunning && ContinuousClock.now < deadline {
            if let text = try? String(contentsOfFile: lockPath, encoding: .utf8),
               text.trimmingCharacters(in: .whitespacesAndNewlines) == String(writer.pid) { break }
            usleep(1000)
        }
        #expect(writer.isRunning, "the ingest ended before the concurrency checks could start; make it longer")

        // A second writer must fail fast, naming the reason.
        let second = try store.run(store.ingestArguments(temp.appending("small"), dataset: "small"), timeout: .seconds(30))
        let firstStillRunning = writer.isRunning
        #expect(!second.succeeded && !second.signaled && !second.timedOut, "a second writer must be refused\n\(second)")
        #expect(second.stderrText.contains("another loom process"), "\(second)")
        #expect(second.seconds < 10, "the refusal should be immediate, took \(second.seconds) s")
        #expect(firstStillRunning, "the first ingest must still be running when the second is refused (inconclusive otherwise)")

        // Readers until the ingest ends: one loop runs stats and ls, another verify, side by side.
        let log = ReaderLog()
        DispatchQueue.concurrentPerform(iterations: 2) { loop in
            while writer.isRunning && log.failureCount <= 3 {
                if loop == 0 {
                    guard let stats = try? store.run(["stats", "--json"]) else { return log.fail("cannot start stats") }
                    if stats.succeeded, let decoded = try? stats.decode(StatsJSON.self) {
                        log.count(decoded.images(of: "big"), seconds: stats.seconds)
                    } else {
                        log.fail("\(stats)")
                    }
                } else {
                    guard let verify = try? store.run(["verify", "--json"]) else { return log.fail("cannot start verify") }
                    log.verified(seconds: verify.seconds)
                    if !verify.succeeded || (try? verify.decode(VerifyJSON.self))?.ok != true {
                        log.fail("\(verify)")
                    }
                    // Before the setup commit the dataset does not exist yet; once a stats run has
                    // seen its images (before this ls started), ls must find it. Read first: a
                    // stats run that ends while ls runs says nothing about what ls could see.
                    let seenBefore = log.lastCount ?? 0
                    guard let ls = try? store.run(["ls", "--dataset", "big", "--json"]) else { return log.fail("cannot start ls") }
                    if !ls.succeeded && !(seenBefore == 0 && ls.stderrText.contains("no dataset")) {
                        log.fail("\(ls)")
                    }
                }
            }
        }
        let (counts, verifies, readerFailures, readerTimes) = log.snapshot()
        let run = writer.wait(timeout: .seconds(120))
        #expect(run.succeeded, "\(run)")
        #expect(readerFailures.isEmpty, "reader runs failed during the ingest:\n\(readerFailures.joined(separator: "\n"))")
        #expect(counts.count >= 3 && verifies >= 2,
                "too few reader runs overlapped the ingest (\(counts.count) stats, \(verifies) verify); make it longer")
        #expect(counts.contains { $0 > 0 && $0 < count }, "no reader saw the ingest half done: \(counts)")
        #expect(zip(counts, counts.dropFirst()).allSatisfy { $0 <= $1 }, "image count went down: \(counts)")
        #expect(counts.allSatisfy { $0 <= count }, "\(counts)")

        // Final state: everything in, clean, and the refused writer left no trace.
        let stats = try store.stats()
        #expect(stats.images(of: "big") == count)
        #expect(!stats.datasets.contains { $0.name == "small" }, "the refused writer must not have changed the catalog")
        #expect(stats.shards.count > 1, "LOOM_SHARD_BYTES should have rolled shards over: \(stats.shards)")
        try store.expectClean("after the concurrent run")
        print("readers during a \(String(format: "%.1f", run.seconds)) s ingest: \(verifies) verify runs, \(counts.count) stats runs (\(readerTimes)) saw \(counts)")
    }
}

/// What the concurrent reader loops saw.
private final class ReaderLog: @unchecked Sendable {
    private let lock = NSLock()
    private var counts: [Int] = []
    private var verifies = 0
    private var failures: [String] = []
    private var times: [Double] = []

    func count(_ images: Int, seconds: Double) {
        lock.withLock {
            counts.append(images)
            times.append(seconds)
        }
    }

    func verified(seconds: Double) { lock.withLock { verifies += 1; times.append(seconds) } }
    func fail(_ text: String) { lock.withLock { failures.append(text) } }
    var failureCount: Int { lock.withLock { failures.count } }
    var lastCount: Int? { lock.withLock { counts.last } }

    func snapshot() -> (counts: [Int], verifies: Int, failures: [String], times: String) {
        lock.withLock { (counts, verifies, failures, String(format: "max %.2f s", times.max() ?? 0)) }
    }
}
