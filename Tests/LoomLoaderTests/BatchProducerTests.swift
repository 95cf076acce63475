import Foundation
@testable import LoomLoader
import LoomStore
import LoomTestSupport
import Testing

/// The loop behind `loom stream` and `GET /v1/batches`: what it hands over, and how it ends.
@Suite("Batch producer", .timeLimit(.minutes(2)))
struct BatchProducerTests {
    static let train32 = TransformSpec(size: 32, augment: .train)

    struct ReaderBroke: Error {}

    @Test("a whole epoch: every batch in order with the token after it, then the end and the last token")
    func wholeEpoch() throws {
        let fixture = try LoaderFixture()
        let loader = try fixture.loader(table: try fixture.table(), spec: Self.train32, config: SamplerConfig(seed: 9), batch: 4, workers: 2)
        var seen: [(index: Int, count: Int, cursor: ResumeToken)] = []
        let report = BatchProducer.run(loader) { view, cursor in
            #expect(cursor.position == view.endPosition)
            seen.append((view.index, view.count, cursor))
            return true
        }
        guard case .finished = report.end else { Issue.record("ended \(report.end)"); return }
        #expect(seen.map(\.index) == Array(0..<12))
        #expect(report.batches == 12 && report.samples == 47 && seen.map(\.count).reduce(0, +) == 47)
        #expect(report.cursor == loader.resumeToken && report.cursor.position == 47 && report.cursor == seen.last?.cursor)
        #expect(report.cursor.fingerprint != nil, "the tokens carry the order fingerprint")
        #expect(report.skipped.isEmpty)
    }

    @Test("a limit stops after that many batches; a reader that declines a batch stops the stream before it")
    func limitAndConsumerStop() throws {
        let fixture = try LoaderFixture()
        let table = try fixture.table()
        let limited = BatchProducer.run(
            try fixture.loader(table: table, spec: Self.train32, config: SamplerConfig(seed: 9), batch: 4, workers: 2), limit: 5
        ) { _, _ in true }
        guard case .finished = limited.end else { Issue.record("ended \(limited.end)"); return }
        #expect(limited.batches == 5 && limited.samples == 20 && limited.cursor.position == 20)

        var offered = 0
        let stopped = BatchProducer.run(
            try fixture.loader(table: table, spec: Self.train32, config: SamplerConfig(seed: 9), batch: 4, workers: 2)
        ) { _, _ in
            offered += 1
            return offered < 3
        }
        guard case .consumerStopped = stopped.end else { Issue.record("ended \(stopped.end)"); return }
        #expect(offered == 3, "nothing is offered after a declined batch")
        #expect(stopped.batches == 2 && stopped.samples == 8 && stopped.cursor.position == 8, "the declined batch is not counted")

        #expect(throws: ReaderBroke.self) {
            _ = try BatchProducer.run(
                try fixture.loader(table: table, spec: Self.train32, config: SamplerConfig(seed: 9), batch: 4, workers: 2)
            ) { _, _ in throw ReaderBroke() }
        }
    }

    @Test("a sample the loader cannot read fails the stream at its batch, with the cursor where that batch starts")
    func loaderFailure() throws {
        let fixture = try LoaderFixture()
        let table = try fixture.table()
        // Cut the shard inside its last train record: that one sample is unreadable.
        let last = table.locations.indices.max { table.locations[$0].offset < table.locations[$1].offset }!
        let file = try SystemFile(path: fixture.layout.shardPath(table.locations[last].shardID), mode: .readWrite)
        try file.truncate(to: table.locations[last].offset + 10)
        let store = try Store(fixture.layout, access: .readOnly)

        let loader = try fixture.loader(table: table, spec: Self.train32, config: SamplerConfig(seed: 9), batch: 4, workers: 2, store: store)
        let failedBatch = loader.plan.order.firstIndex { Int($0) == last }! / 4
        var delivered = 0
        let report = BatchProducer.run(loader) { _, _ in
            delivered += 1
            return true
        }
        guard case .failed(let error) = report.end else { Issue.record("ended \(report.end)"); return }
        #expect("\(error)".contains(table.locations[last].digest.hex), "\(error)")
        #expect(delivered == failedBatch && report.batches == failedBatch)
        #expect(report.cursor.position == failedBatch * 4, "a retry from the cursor starts at the failed batch")

        let skipping = try fixture.loader(table: table, spec: Self.train32, config: SamplerConfig(seed: 9), batch: 4, workers: 2,
                                          skipBad: true, store: store)
        let skipped = BatchProducer.run(skipping) { _, _ in true }
        guard case .finished = skipped.end else { Issue.record("ended \(skipped.end)"); return }
        #expect(skipped.samples == 47 && skipped.skipped == [table.locations[last].digest])
    }

    @Test("epochs in one run: a resumed first epoch, then whole ones, each as its own loader gives it; the old loader goes before the next is made")
    func epochsInOneRun() throws {
        let fixture = try LoaderFixture()
        let table = try fixture.table()
        let config = SamplerConfig(seed: 9)
        func alone(_ epoch: Int, from start: Int = 0) throws -> [[UInt32]] {
            let loader = try fixture.loader(table: table, spec: Self.train32, config: config, epoch: epoch, batch: 4, workers: 2,
                                            startPosition: start)
            var samples: [[UInt32]] = []
            while let view = try loader.next() { samples.append(Array(view.samples)) }
            return samples
        }
        let expected = try alone(3, from: 40) + alone(4) + alone(5)
        #expect(expected.count == 2 + 12 + 12)

        var first: Loader? = try fixture.loader(table: table, spec: Self.train32, config: config, epoch: 3, batch: 4, workers: 2,
                                                startPosition: 40)
        weak var previous = first
        var opened: [Int] = []
        var seen: [(epoch: Int, samples: [UInt32], cursor: ResumeToken, last: Bool)] = []
        let report = BatchProducer.run(epochs: 3, first: &first, next: { k in
            #expect(previous == nil, "epoch \(k)'s loader is made while the one before is still alive")
            opened.append(k)
            let made = Result { try fixture.loader(table: table, spec: Self.train32, config: config, epoch: 3 + k, batch: 4, workers: 2) }
            previous = try? made.get()
            return made
        }) { loader, view, cursor in
            seen.append((loader.plan.epoch, Array(view.samples), cursor, view.endPosition == loader.endPosition))
            return true
        }
        #expect(first == nil, "the run holds the first loader, not the caller")
        guard case .finished = report.end else { Issue.record("ended \(report.end)"); return }
        #expect(opened == [1, 2])
        #expect(seen.map(\.samples) == expected)
        #expect(seen.map(\.epoch) == Array(repeating: 3, count: 2) + Array(repeating: 4, count: 12) + Array(repeating: 5, count: 12))
        #expect(seen.indices.filter { seen[$0].last } == [1, 13, 25], "each epoch's last batch is marked")
        #expect(report.batches == 26 && report.samples == 7 + 47 + 47)
        #expect(report.cursor == seen.last?.cursor && report.cursor.epoch == 5 && report.cursor.position == 47)

        // A limit counts batches over the epochs; a later epoch that cannot be made fails the run
        // with the cursor at the end of the epoch before.
        var limitedFirst: Loader? = try fixture.loader(table: table, spec: Self.train32, config: config, epoch: 3, batch: 4, workers: 2)
        let limited = BatchProducer.run(epochs: 3, first: &limitedFirst, next: { k in
            Result { try fixture.loader(table: table, spec: Self.train32, config: config, epoch: 3 + k, batch: 4, workers: 2) }
        }, limit: 15) { _, _, _ in true }
        guard case .finished = limited.end else { Issue.record("ended \(limited.end)"); return }
        #expect(limited.batches == 15 && limited.cursor.epoch == 4 && limited.cursor.position == 12)

        var failingFirst: Loader? = try fixture.loader(table: table, spec: Self.train32, config: config, epoch: 3, batch: 4, workers: 2)
        let failing = BatchProducer.run(epochs: 2, first: &failingFirst, next: { _ in .failure(ReaderBroke()) }) { _, _, _ in true }
        guard case .failed(let error) = failing.end, error is ReaderBroke else { Issue.record("ended \(failing.end)"); return }
        #expect(failing.batches == 12 && failing.cursor.epoch == 3 && failing.cursor.position == 47)
    }
}
