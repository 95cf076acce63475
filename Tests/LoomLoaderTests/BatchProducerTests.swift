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
}
