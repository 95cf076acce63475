import ArgumentParser
import Foundation
import LoomLoader
import LoomStore

struct BenchLoaderCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "loader",
        abstract: "Run the loader for whole epochs; print img/s per epoch, time to first batch and peak RSS.",
        discussion: """
            Compare with `loom bench decode` (the decode-only limit on the same images) and tools/bench/loader-vs-pytorch. \
            Build with -c release.

            --catalog-rows N: whether the loader's memory and start-up stay flat in catalog size. Takes up to \
            --distinct of the selection's real images as blobs and builds two scratch stores under --scratch, one \
            with --baseline-rows rows and one with N rows pointing at those blobs round robin; runs --max-batches \
            batches of each in a child process of its own, twice: first reading the catalog (which saves the sample \
            table), then mapping the saved table; prints table load time, time to first batch, peak RSS and img/s of \
            each, and N against the baseline.
            """)

    @OptionGroup var options: StoreOptions
    @OptionGroup var selection: SelectionOptions

    @OptionGroup var batching: BatchOptions

    @Option(help: "Epochs to run.")
    var epochs: Int = 2

    @Option(help: "Shuffle seed.")
    var seed: UInt64 = 0

    @Option(name: .customLong("max-batches"), help: "Stop each epoch after this many batches.")
    var maxBatches: Int?

    @Option(name: .customLong("catalog-rows"), help: "Measure a scratch catalog of this many real-image rows against --baseline-rows (see above).")
    var catalogRows: Int?

    @Option(name: .customLong("baseline-rows"), help: "With --catalog-rows: the rows of the baseline catalog.")
    var baselineRows: Int = 10_000

    @Option(help: "With --catalog-rows: distinct blobs the rows point at, taken from the selection.")
    var distinct: Int = 2000

    @Option(help: "With --catalog-rows: where the scratch stores go (replaced).")
    var scratch: String = ".data/bench-catalog-rows"

    struct Epoch: Codable {
        var epoch: Int
        var images: Int
        var seconds: Double
        var images_per_s: Double
        var first_batch_ms: Double
    }

    struct Report: Codable {
        var selection: String
        var images: Int
        var cached: Int
        var batch: Int
        var size: Int
        var augment: String
        var workers: Int
        var epochs: [Epoch]
        var table_ms: Double
        /// Whether the sample table was mapped from a saved one (see SampleTable.load).
        var table_mapped: Bool
        var peak_rss_mb: Double
        /// The most anonymous RSS seen after any batch (see anonymousResidentBytes()).
        var peak_anon_rss_mb: Double
    }

    func run() throws {
        if let catalogRows { return try CatalogRowsBench(command: self, rows: catalogRows).run() }
        let store = try options.openReadOnly()
        let spec = batching.spec
        let (batch, size, augment, workers, noCache) = (batching.batch, batching.size, batching.augment, batching.workers, batching.noCache)
        let chosen = try selection.resolve()
        let tableStart = ContinuousClock.now
        let table = try SampleTable.load(store, selection: chosen, cacheShortSide: batching.cacheShortSide)
        let tableTime = ContinuousClock.now - tableStart
        var results: [Epoch] = []
        var checksum: UInt64 = 0
        var peakAnonymous = anonymousResidentBytes()
        for epoch in 0..<max(1, epochs) {
            let start = ContinuousClock.now
            let loader = try Loader(store: store, table: table, spec: spec, config: SamplerConfig(seed: seed), epoch: epoch,
                                    options: .init(batchSize: batch, workers: workers, useCache: !noCache))
            var images = 0
            var firstBatch: Duration? = nil
            var batches = 0
            while batches < maxBatches ?? .max, let view = try loader.next() {
                batches += 1
                if firstBatch == nil { firstBatch = ContinuousClock.now - start }
                images += view.count
                // Touch the batch as a consumer would, so nothing is optimised away.
                checksum &+= UInt64(view.pixels[view.pixels.count / 2])
                peakAnonymous = max(peakAnonymous, anonymousResidentBytes())
            }
            let seconds = (ContinuousClock.now - start) / .seconds(1)
            results.append(Epoch(epoch: epoch, images: images, seconds: seconds, images_per_s: Double(images) / seconds,
                                 first_batch_ms: (firstBatch ?? .zero) / .milliseconds(1)))
        }
        let report = Report(
            selection: chosen.description, images: table.count, cached: noCache ? 0 : table.cachedCount, batch: batch, size: size,
            augment: augment.rawValue, workers: workers, epochs: results, table_ms: tableTime / .milliseconds(1), table_mapped: table.isMapped,
            peak_rss_mb: Double(peakResidentBytes()) / 1e6, peak_anon_rss_mb: Double(peakAnonymous) / 1e6)
        if options.json { return try Output.json(report) }
        Output.stdout("\(report.selection): \(report.images) images (\(report.cached) from the pixel cache), batch \(batch), \(size)px \(augment.rawValue), \(workers) workers")
        for e in results {
            Output.stdout(String(format: "  epoch %d: %.0f img/s (%.2f s), first batch %.0f ms", e.epoch, e.images_per_s, e.seconds, e.first_batch_ms))
        }
        let source = table.isMapped ? "mapped from the saved table" : "read from the catalog"
        Output.stdout(String(format: "  sample table %.1f ms (\(source)), peak RSS %.0f MB (anonymous %.0f MB)   (checksum %llu)",
                             report.table_ms, report.peak_rss_mb, report.peak_anon_rss_mb, checksum))
    }
}
