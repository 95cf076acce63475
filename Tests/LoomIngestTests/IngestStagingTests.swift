import Foundation
import LoomIngest
import LoomStore
import LoomTestSupport
import Testing

/// Ingest stages files in groups of ``Ingestor/stagingGroup`` as they arrive and commits in
/// batches of `commitImages`: a repeat of a file must be stored once whichever group or batch
/// each copy falls in.
@Suite("ingest staging")
struct IngestStagingTests {
    @Test("repeats in another staging group, another batch and the same group store their bytes once")
    func repeatsAcrossGroupsAndBatches() throws {
        let temp = try TemporaryDirectory(prefix: "loom-staging-")
        let store = try Store(StoreLayout(root: temp.appending("store")), access: .readWrite)
        let group = Ingestor.stagingGroup
        // Index -> seed: distinct seeds, except the repeats below. Paths sort in index order.
        var seeds = (0..<(3 * group)).map { UInt64(1000 + $0) }
        let repeats: [Int: UInt64] = [
            group + 5: seeds[3],  // the next group of the first batch
            2 * group + 1: seeds[7],  // the second batch (the first one committed)
            2 * group + 2: seeds[2 * group],  // the same group as its original
        ]
        for (index, seed) in repeats { seeds[index] = seed }
        let entries = seeds.enumerated().map { index, seed in
            InMemorySource.Entry(path: String(format: "cat/%04d.jpg", index), bytes: FixtureImages.jpeg(width: 24, height: 18, seed: seed))
        }
        let source = try InMemorySource(entries: entries)
        let options = Ingestor.Options(dataset: "pets", workers: 2, commitImages: 2 * group)
        let summary = try Ingestor(store: store, options: options).run(source: source)

        let distinct = Set(seeds).count
        #expect(summary.added == distinct && summary.duplicates == repeats.count, "\(summary)")
        let report = try Verifier.run(store)
        #expect(report.ok && report.records == distinct, "\(report.problems)")
        let stored = entries.reduce(into: [String: Int]()) { $0[Digest.sha256($1.bytes).hex] = $1.bytes.count }
        #expect(summary.bytesStored >= stored.values.reduce(0, +), "\(summary)")

        // Every row points at the bytes of its own file.
        var rows: [String: String] = [:]
        try store.read { snapshot in
            try snapshot.datasets.forEachRealImage(RealImageFilter(dataset: "pets")) { entry in rows[entry.path] = entry.digest }
        }
        #expect(rows.count == entries.count)
        for entry in entries { #expect(rows[entry.path] == Digest.sha256(entry.bytes).hex, "\(entry.path)") }

        let again = try Ingestor(store: store, options: options).run(source: source)
        #expect(again.unchanged == entries.count && again.added == 0, "\(again)")
    }
}
