import ArgumentParser
import Foundation
import LoomLoader
import LoomStore

struct StreamCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "stream",
        abstract: "Run the loader and print one JSON line per batch (digests, labels, pixel checksum), then a resume token.",
        discussion: """
            With --shm NAME the batches also go into a shared-memory ring at /dev/shm/NAME that a trainer on \
            this machine reads in place (Python: loom_client.ShmRing(NAME)); the stream waits while the ring \
            is full. docs/batch-stream.md describes the layout.
            With --json --explain each batch line adds "crops": per sample, the crop box and flip the loader \
            chose (top, left, height, width in the original image's pixels, flip, from: original or \
            pixel-cache), to feed another pipeline (torchvision's F.resized_crop) the same geometry.
            Training crops follow torchvision's RandomResizedCrop (scale 0.08-1, ratio 3/4-4/3) and PIL's \
            BILINEAR resize of the crop. When `loom cache` has built the pixel cache, they are cut from the \
            cached evaluation resize (short side size/0.875) instead of the original: faster, but small \
            crops are upsampled from fewer pixels than torchvision would use; --no-cache decodes originals.
            """)

    @OptionGroup var options: StoreOptions
    @OptionGroup var selection: SelectionOptions
    @OptionGroup var sampler: SamplerOptions

    @OptionGroup var batching: BatchOptions

    @Option(help: "Resume token from an earlier stream's last line.")
    var resume: String?

    @Option(help: ArgumentHelp(
        "Epochs to stream one after another, from --epoch (or the resume token's) on.",
        discussion: "A reader of many epochs pays the start-up (process, store, sample table, ring) once, and each later epoch's workers start as soon as the epoch before has handed over its last batch, while that batch is still being read."))
    var epochs = 1

    @Option(name: .customLong("max-batches"), help: "Stop after this many batches (over all --epochs).")
    var maxBatches: Int?

    @Flag(name: .customLong("drop-last"), help: "Drop the epoch's last partial batch.")
    var dropLast = false

    @Flag(help: "With --json: add each sample's crop box and flip to its batch line (\"crops\").")
    var explain = false

    @Flag(name: .customLong("skip-bad"), help: "Replace undecodable samples with the next good one instead of failing (counted).")
    var skipBad = false

    @Option(help: "Also write the batches into a shared-memory ring /dev/shm/NAME for a reader on this machine (loom_client.ShmRing).")
    var shm: String?

    @Option(name: .customLong("shm-slots"), help: "Batches the shared-memory ring holds (the reader may lag this many).")
    var shmSlots = 4

    @Option(name: .customLong("stream-memory"),
            help: "Memory the stream may hold in batch buffers (loader ring and --shm slots), e.g. 512MiB, 4GiB.")
    var streamMemory = ByteCount(StreamBudget.defaultBytes)

    func validate() throws {
        guard shmSlots >= 1 && shmSlots <= 1024 else { throw ValidationError("--shm-slots must be 1...1024") }
        if let shm { try SharedMemoryRing.checkName(shm) }
        guard batching.batch >= 1 else { throw ValidationError("--batch must be positive") }
        guard epochs >= 1 && epochs <= 100_000 else { throw ValidationError("--epochs must be 1...100000, not \(epochs)") }
        if explain && !options.json { throw ValidationError("--explain adds to the --json batch lines: give --json too") }
    }

    struct BatchLine: Encodable {
        var epoch: Int
        var index: Int
        var count: Int
        var digests: [String]
        var labels: [Int32]
        var checksum: String
        /// With --explain: each sample's crop box and flip, in delivery order.
        var crops: [CropChoice]? = nil
    }

    struct Summary: Encodable {
        var resume: String
        var batches: Int
        var samples: Int
        var skipped: Int
        var skipped_digests: [String]
        var seconds: Double
        var images_per_s: Double
        /// With --shm: the ring's name, and whether its consumer stopped before the end.
        var shm: String? = nil
        var consumer_closed: Bool? = nil
    }

    /// The loader's options, with a ring that fits --stream-memory beside the --shm slots;
    /// refused before anything is allocated when even the smallest does not.
    func budgetedLoaderOptions() throws -> Loader.Options {
        var loaderOptions = Loader.Options(batchSize: batching.batch, workers: batching.workers, dropLast: dropLast, skipBad: skipBad,
                                           useCache: !batching.noCache)
        do {
            loaderOptions.prefetch = try StreamBudget(bytes: streamMemory.bytes).prefetch(
                for: loaderOptions, size: batching.size, consumerBuffers: shm == nil ? 0 : shmSlots)
        } catch {
            throw LoaderError("\(error) (raise it with --stream-memory)")
        }
        return loaderOptions
    }

    func run() throws {
        var config = sampler.config
        var epoch = sampler.epoch
        var start = 0
        let token = try resume.map { try ResumeToken(parsing: $0) }
        if let token {
            (config, epoch) = try sampler.resuming(from: token)
            start = token.position
        }
        let loaderOptions = try budgetedLoaderOptions()
        let store = try options.openReadOnly()
        let table = try SampleTable.load(store, selection: try selection.resolve(), cacheShortSide: batching.cacheShortSide)
        try token?.check(table: table, config: config)
        guard epoch + (epochs - 1) <= Int(Int32.max) else {
            throw ValidationError("--epochs \(epochs) from epoch \(epoch) runs past epoch \(Int32.max)")
        }
        var first: Loader? = try Loader(
            store: store, table: table, spec: batching.spec, config: config, epoch: epoch, options: loaderOptions,
            startPosition: start)
        let encoder = Output.lineEncoder()
        let clock = ContinuousClock.now
        let progress = ProgressLine("stream")
        let total = min(maxBatches ?? .max, first!.streamBatchCount(epochs: epochs))
        let streamSamples = first!.streamSampleCount(epochs: epochs)
        let startCursor = first!.resumeToken.description
        var ring = try shm.map { name in
            try SharedMemoryRing(
                name: name, layout: SharedMemoryRingLayout(slotCount: shmSlots, batch: batching.batch, height: batching.size,
                                                           width: batching.size),
                epoch: epoch, batchCount: total, sampleCount: min(streamSamples, total * batching.batch),
                startCursor: startCursor)
        }
        var delivered = 0
        let later = { (k: Int) in
            Result {
                try Loader(store: store, table: table, spec: batching.spec, config: config, epoch: epoch + k, options: loaderOptions)
            }
        }
        let report = try BatchProducer.run(epochs: epochs, first: &first, next: later, limit: total) { loader, view, after in
            if ring != nil {
                let published = try ring!.publish(
                    count: view.count, pixels: view.pixels, labels: view.labels, positionAfter: view.endPosition,
                    cursor: after.description, lastOfEpoch: view.endPosition == loader.endPosition)
                if !published {
                    // The reader stopped early (a trainer that needed fewer steps): stop too, and
                    // take the name away, since nobody will read the rest.
                    ring!.unlink()
                    return false
                }
            }
            delivered += 1
            // The line's checksum hashes the whole batch: only a --json reader pays for it.
            if options.json {
                let line = BatchLine(
                    epoch: loader.plan.epoch, index: view.index, count: view.count,
                    digests: view.samples.map { table.locations[Int($0)].digest.hex }, labels: Array(view.labels),
                    checksum: String(Digest.sha256(view.pixels).hex.prefix(16)),
                    crops: explain ? try view.samples.map { try loader.cropChoice(sample: Int($0)) } : nil)
                try Output.jsonLine(line, encoder: encoder)
            }
            progress.update(done: delivered, total: total, unit: "batch")
            return true
        }
        var consumerClosed = false
        switch report.end {
        case .finished: break
        case .consumerStopped: consumerClosed = true
        case .failed(let error):
            ring?.fail("\(error)")
            throw error
        }
        let (batches, samples, skipped) = (report.batches, report.samples, report.skipped)
        progress.finish()
        if !consumerClosed { ring?.finish() }
        let elapsed = (ContinuousClock.now - clock) / .seconds(1)
        let summary = Summary(resume: report.cursor.description, batches: batches, samples: samples, skipped: skipped.count,
                              skipped_digests: skipped.map(\.hex), seconds: elapsed, images_per_s: Double(samples) / max(elapsed, 1e-9),
                              shm: shm, consumer_closed: shm == nil ? nil : consumerClosed)
        if options.json { return try Output.jsonLine(summary, encoder: encoder) }
        Output.stderr(String(format: "%d batches, %d samples in %.2f s (%.0f img/s), %d skipped", batches, samples, elapsed,
                             summary.images_per_s, skipped.count))
        Output.stdout("resume: \(summary.resume)")
    }
}
