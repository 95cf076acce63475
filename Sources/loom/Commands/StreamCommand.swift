import ArgumentParser
import Foundation
import LoomLoader
import LoomStore

struct StreamCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "stream",
        abstract: "Run the loader and print one JSON line per batch (digests, labels, pixel checksum), then a resume token.")

    @OptionGroup var options: StoreOptions
    @OptionGroup var selection: SelectionOptions
    @OptionGroup var sampler: SamplerOptions

    @OptionGroup var batching: BatchOptions

    @Option(help: "Resume token from an earlier stream's last line.")
    var resume: String?

    @Option(name: .customLong("max-batches"), help: "Stop after this many batches.")
    var maxBatches: Int?

    @Flag(name: .customLong("drop-last"), help: "Drop the epoch's last partial batch.")
    var dropLast = false

    @Flag(name: .customLong("skip-bad"), help: "Replace undecodable samples with the next good one instead of failing (counted).")
    var skipBad = false

    struct BatchLine: Encodable {
        var index: Int
        var count: Int
        var digests: [String]
        var labels: [Int32]
        var checksum: String
    }

    struct Summary: Encodable {
        var resume: String
        var batches: Int
        var samples: Int
        var skipped: Int
        var skipped_digests: [String]
        var seconds: Double
        var images_per_s: Double
    }

    func run() throws {
        var config = sampler.config
        var epoch = sampler.epoch
        var start = 0
        if let resume {
            let token = try ResumeToken(parsing: resume)
            config.seed = token.seed
            config.rank = token.rank
            config.world = token.world
            epoch = token.epoch
            start = token.position
        }
        let store = try options.openReadOnly()
        let table = try SampleTable.load(store, selection: try selection.resolve(), cacheShortSide: batching.cacheShortSide)
        let loader = try Loader(
            store: store, table: table, spec: batching.spec, config: config, epoch: epoch,
            options: .init(batchSize: batching.batch, workers: batching.workers, dropLast: dropLast, skipBad: skipBad,
                           useCache: !batching.noCache),
            startPosition: start)
        let encoder = Output.lineEncoder()
        let clock = ContinuousClock.now
        let progress = ProgressLine("stream")
        var batches = 0, samples = 0
        while maxBatches.map({ batches < $0 }) ?? true, let view = try loader.next() {
            batches += 1
            samples += view.count
            let line = BatchLine(
                index: view.index, count: view.count,
                digests: view.samples.map { table.locations[Int($0)].digest.hex }, labels: Array(view.labels),
                checksum: String(Digest.sha256(view.pixels).hex.prefix(16)))
            if options.json { try Output.jsonLine(line, encoder: encoder) }
            progress.update(done: batches, total: loader.batchCount, unit: "batch")
        }
        progress.finish()
        let elapsed = (ContinuousClock.now - clock) / .seconds(1)
        let skipped = loader.skippedSamples
        let summary = Summary(resume: loader.resumeToken.description, batches: batches, samples: samples, skipped: skipped.count,
                              skipped_digests: skipped.map(\.hex), seconds: elapsed, images_per_s: Double(samples) / max(elapsed, 1e-9))
        if options.json { return try Output.jsonLine(summary, encoder: encoder) }
        Output.stderr(String(format: "%d batches, %d samples in %.2f s (%.0f img/s), %d skipped", batches, samples, elapsed,
                             summary.images_per_s, skipped.count))
        Output.stdout("resume: \(summary.resume)")
    }
}
