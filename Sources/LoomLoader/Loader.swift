import Foundation
import LoomImage
import LoomStore

/// Streams one rank's epoch as batches of decoded, augmented pixels.
///
/// Worker threads claim samples in delivery order, a few at a time, read each record with one
/// `pread`, decode and transform it straight into its slot of a preallocated batch buffer. A
/// ring of `prefetch` batch buffers gives prefetch and backpressure: workers run ahead of the
/// consumer by at most that many batches, and memory stays at `prefetch` batches whatever the
/// dataset size. Batches come out in order; every sample's crop and flip are keyed by
/// (seed, epoch, sample), so output does not depend on the number of workers.
public final class Loader {
    /// The worker threads hold the pipeline, never the loader: when the loader is released
    /// mid-epoch its `deinit` stops them, so no thread waits forever on a consumer that is gone.
    private let pipeline: LoaderPipeline

    public var table: SampleTable { pipeline.table }
    public var plan: EpochPlan { pipeline.plan }
    public var spec: TransformSpec { pipeline.spec }
    public var options: Options { pipeline.options }
    public var config: SamplerConfig { pipeline.config }
    public var startPosition: Int { pipeline.startPosition }
    public var endPosition: Int { pipeline.endPosition }

    /// - Parameter startPosition: samples of this rank's epoch already consumed (from a resume token).
    public convenience init(store: Store, table: SampleTable, spec: TransformSpec, config: SamplerConfig, epoch: Int,
                            options: Options, startPosition: Int = 0) throws {
        try self.init(store: store, table: table, spec: spec, config: config, epoch: epoch, options: options,
                      startPosition: startPosition, makeRenderer: SampleRenderer.init(spec:))
    }

    /// - Parameter makeRenderer: one per worker; tests pass one that fails, since the real
    ///   renderer fails only when libjpeg-turbo cannot allocate a handle.
    init(store: Store, table: SampleTable, spec: TransformSpec, config: SamplerConfig, epoch: Int,
         options: Options, startPosition: Int, makeRenderer: (TransformSpec) throws -> SampleRenderer) throws {
        pipeline = try LoaderPipeline(store: store, table: table, spec: spec, config: config, epoch: epoch,
                                      options: options, startPosition: startPosition, makeRenderer: makeRenderer)
    }

    deinit {
        pipeline.cancel()
        // No worker runs now and no view can outlive the loader: the next epoch's loader, made
        // right after this one goes, gets this ring's memory instead of mapping another.
        pipeline.releaseBatchMemory()
    }

    /// Batches in this rank's epoch from the start position on.
    public var batchCount: Int { pipeline.batchCount }

    /// Batches in a stream of `epochs` epochs that starts with this loader's (from its start
    /// position) and goes on with whole ones: the sampler gives every epoch as many samples.
    public func streamBatchCount(epochs: Int) -> Int {
        batchCount + (epochs - 1) * ((endPosition + options.batchSize - 1) / options.batchSize)
    }

    /// Samples in such a stream (``streamBatchCount(epochs:)``).
    public func streamSampleCount(epochs: Int) -> Int { endPosition - startPosition + (epochs - 1) * endPosition }

    /// Digests of samples that `skipBad` replaced so far.
    public var skippedSamples: [Digest] { pipeline.skippedSamples }

    /// The next batch in order, or nil at the end of the epoch. The view is valid until the next call.
    /// - Throws: the first error a sample of that batch met (naming its digest) unless `skipBad`.
    public func next() throws -> BatchView? { try pipeline.next() }

    /// Takes the pixel memory of the batch last returned by ``next()`` out of the ring: from
    /// now on the caller owns it (the view's pixels stay valid in it until the caller releases
    /// it), and the ring fills a buffer from the process's pool in its place. For a consumer
    /// that hands a batch on instead of copying it out: `GET /v1/batches` gives it to the
    /// socket, which releases it once written.
    /// - Throws: ``LoaderError`` when no batch is held, or when no replacement can be mapped.
    public func takePixels() throws -> TakenPixels { try pipeline.takePixels() }

    /// The token that resumes right after the last batch returned.
    public var resumeToken: ResumeToken {
        var token = pipeline.resumeToken
        token.fingerprint = fingerprint
        return token
    }

    /// The order fingerprint the tokens carry: hashed once, on the first token asked for (a
    /// trainer that never asks does not pay for it).
    public private(set) lazy var fingerprint: String = table.orderFingerprint(config)

    /// ``cropChoice(sample:)``'s header reader and read buffer, made on first use.
    private var explainer: SampleRenderer?
    private var explainBuffer: [UInt8] = []

    /// Stops the workers (idempotent); waits for them to leave.
    public func cancel() { pipeline.cancel() }

    /// The crop box and flip this loader gives sample `sample` (an index into ``table``) this
    /// epoch, as `loom stream --explain` prints them. Reads the sample's header again (and only
    /// that), so it costs a blob read per call.
    public func cropChoice(sample: Int) throws -> CropChoice {
        guard sample >= 0 && sample < table.count else {
            throw LoaderError("sample \(sample) is outside the table (0..<\(table.count))")
        }
        if explainer == nil { explainer = try SampleRenderer(spec: spec) }
        return try pipeline.choice(sample: sample, renderer: explainer!, buffer: &explainBuffer)
    }

    public struct Options: Sendable {
        public var batchSize: Int
        public var workers: Int
        /// Batch buffers in flight (default: workers + 2).
        public var prefetch: Int?
        /// Drop the epoch's last, partial batch.
        public var dropLast: Bool
        /// Replace an unreadable or undecodable sample with the next good one in table order
        /// (counted) instead of failing; the epoch fails only when no sample is good.
        public var skipBad: Bool
        /// Use pixel-cache images when the catalog has them.
        public var useCache: Bool

        public init(batchSize: Int, workers: Int = ProcessInfo.processInfo.activeProcessorCount, prefetch: Int? = nil,
                    dropLast: Bool = false, skipBad: Bool = false, useCache: Bool = true) {
            self.batchSize = batchSize
            self.workers = workers
            self.prefetch = prefetch
            self.dropLast = dropLast
            self.skipBad = skipBad
            self.useCache = useCache
        }
    }

}

extension Loader {
    /// A batch, valid until the next call to ``Loader/next()``.
    public struct BatchView {
        /// Index of the batch in this rank's epoch.
        public let index: Int
        public let count: Int
        /// `count x size x size x 3` bytes, NHWC, RGB.
        public let pixels: UnsafeRawBufferPointer
        public let labels: UnsafeBufferPointer<Int32>
        /// Indices into the ``SampleTable`` of the samples delivered (with `skipBad`, a
        /// replacement appears here in place of the sample it replaced).
        public let samples: ArraySlice<UInt32>
        /// Position in the epoch after this batch (what a resume token records).
        public let endPosition: Int
    }
}

extension Loader {
    /// Batch pixel memory taken out of a loader's ring (``Loader/takePixels()``). Whoever holds
    /// it calls ``release()`` exactly once, when nothing reads it any more.
    public struct TakenPixels: @unchecked Sendable {
        // @unchecked: a mapping owned by whoever holds this; nothing else reads or writes it.
        /// The whole mapping (page-rounded); the batch is its first bytes.
        public let memory: UnsafeMutableRawBufferPointer

        /// Hands the memory back to the pool the loaders draw from.
        public func release() { BatchMemory.shared.give(memory) }
    }
}

/// The shared state of a loader's workers and its consumer.
final class LoaderPipeline: @unchecked Sendable {
    // @unchecked: mutable state is guarded by `condition`; each slot's pixel memory is written
    // only by the worker that claimed those sample positions, and read by the consumer only
    // after the slot is complete (published under the lock).
    typealias Options = Loader.Options
    typealias BatchView = Loader.BatchView

    let table: SampleTable
    let plan: EpochPlan
    let spec: TransformSpec
    let options: Options
    let config: SamplerConfig
    let startPosition: Int
    let endPosition: Int

    private let store: Store
    private let condition = NSCondition()
    private let slots: [Slot]
    private var nextPosition: Int
    private var nextBatch = 0
    private var holding: Int? = nil
    /// The held batch's pixels were taken out (``takePixels()``): its slot holds a fresh buffer.
    private var heldTaken = false
    private var releasedBatches = 0
    private var cancelled = false
    private var running = 0
    private var skipped: [Digest] = []
    /// Samples found bad so far (with `skipBad`): a replacement search steps over them without
    /// reading them again, so a shard cut short costs one failed read per lost record.
    private var bad: Set<Int> = []

    final class Slot {
        /// Replaced (under the lock) only while the consumer holds this slot's batch, which no
        /// worker writes to: ``LoaderPipeline/takePixels()``.
        var pixels: UnsafeMutableRawBufferPointer
        // Raw storage, allocated once: several workers write different elements of one slot at
        // the same time, which a Swift Array (copy-on-write, a struct) does not allow.
        let labels: UnsafeMutableBufferPointer<Int32>
        /// The samples actually delivered (a `skipBad` replacement shows here, not the bad one).
        let samples: UnsafeMutableBufferPointer<UInt32>
        var batch = -1
        var filled = 0
        var expected = 0
        var error: (any Error)?

        init(bytes: Int, batchSize: Int) throws {
            pixels = try BatchMemory.shared.take(bytes: bytes)
            labels = .allocate(capacity: batchSize)
            labels.initialize(repeating: 0)
            samples = .allocate(capacity: batchSize)
            samples.initialize(repeating: 0)
        }

        private var pixelsReleased = false

        /// Hands the pixel memory back to ``BatchMemory`` (once); the slot is not used after.
        func releasePixels() {
            guard !pixelsReleased else { return }
            pixelsReleased = true
            BatchMemory.shared.give(pixels)
        }

        deinit {
            releasePixels()
            labels.deallocate()
            samples.deallocate()
        }
    }

    init(store: Store, table: SampleTable, spec: TransformSpec, config: SamplerConfig, epoch: Int,
         options: Options, startPosition: Int, makeRenderer: (TransformSpec) throws -> SampleRenderer) throws {
        try config.validate()
        guard options.batchSize > 0 else { throw LoaderError("batch size must be positive") }
        guard spec.size > 0 && spec.size <= 4096 else { throw LoaderError("size must be 1...4096") }
        self.store = store
        self.table = table
        self.spec = spec
        self.options = options
        self.config = config
        self.plan = EpochPlan(table: table, config: config, epoch: epoch)
        let total = plan.order.count
        self.endPosition = options.dropLast ? total - total % options.batchSize : total
        guard startPosition >= 0 && startPosition <= endPosition else {
            throw LoaderError("resume position \(startPosition) is outside this epoch (0...\(endPosition))")
        }
        self.startPosition = startPosition
        self.nextPosition = startPosition
        let ring = options.batchBuffers
        let (batchBytes, overflow) = options.batchSize.multipliedReportingOverflow(by: spec.sampleBytes)
        guard !overflow else { throw LoaderError("batch size \(options.batchSize) at size \(spec.size) is too large", code: .invalidArgument) }
        slots = try (0..<ring).map { _ in try Slot(bytes: batchBytes, batchSize: options.batchSize) }
        // Every renderer is made before any worker starts: a worker without one could claim
        // nothing, and the consumer would wait forever for the batches it was to fill.
        let renderers: [SampleRenderer]
        do {
            renderers = try (0..<max(1, options.workers)).map { _ in try makeRenderer(spec) }
        } catch {
            throw LoaderError("the loader cannot start its workers: making an image renderer failed: \(error)", code: .io)
        }
        running = renderers.count
        for (index, renderer) in renderers.enumerated() {
            let handoff = RendererHandoff(renderer)
            let thread = Thread { [self] in work(renderer: handoff.renderer) }
            thread.name = "loom-loader-\(index)"
            thread.stackSize = 4 << 20
            thread.start()
        }
    }

    var batchCount: Int { (endPosition - startPosition + options.batchSize - 1) / options.batchSize }

    var skippedSamples: [Digest] { condition.withLock { skipped } }

    func next() throws -> BatchView? {
        condition.lock()
        defer { condition.unlock() }
        if let held = holding {
            releasedBatches = held + 1
            holding = nil
            heldTaken = false
            condition.broadcast()
        }
        let batch = nextBatch
        let first = startPosition + batch * options.batchSize
        guard first < endPosition else { return nil }
        let slot = slots[batch % slots.count]
        while !(slot.batch == batch && slot.filled == slot.expected) {
            condition.wait()
        }
        if let error = slot.error { throw error }
        nextBatch += 1
        holding = batch
        let count = slot.expected
        return BatchView(
            index: (first) / options.batchSize, count: count,
            pixels: UnsafeRawBufferPointer(rebasing: slot.pixels[0..<(count * spec.sampleBytes)]),
            labels: UnsafeBufferPointer(rebasing: slot.labels[0..<count]),
            samples: Array(slot.samples[0..<count])[...], endPosition: first + count)
    }

    func takePixels() throws -> Loader.TakenPixels {
        let held = condition.withLock { heldTaken ? nil : holding.map { (batch: $0, bytes: slots[$0 % slots.count].pixels.count) } }
        guard let held else {
            throw LoaderError("no batch is held whose pixels are still in the ring: takePixels() follows next(), once", code: .invalidArgument)
        }
        // Mapped outside the lock: the workers claim samples under it.
        let fresh = try BatchMemory.shared.take(bytes: held.bytes)
        return condition.withLock {
            let slot = slots[held.batch % slots.count]
            let taken = slot.pixels
            slot.pixels = fresh
            heldTaken = true
            return Loader.TakenPixels(memory: taken)
        }
    }

    var resumeToken: ResumeToken {
        let position = condition.withLock { startPosition + nextBatch * options.batchSize }
        return ResumeToken(seed: config.seed, epoch: plan.epoch, position: min(position, endPosition), rank: config.rank, world: config.world)
    }

    /// After ``cancel()``, when the loader that owns this pipeline is gone.
    func releaseBatchMemory() {
        condition.withLock { for slot in slots { slot.releasePixels() } }
    }

    func cancel() {
        condition.lock()
        cancelled = true
        condition.broadcast()
        while running > 0 { condition.wait() }
        condition.unlock()
    }

    private static let chunk = 4

    private func work(renderer: SampleRenderer) {
        defer {
            condition.lock()
            running -= 1
            condition.broadcast()
            condition.unlock()
        }
        var encoded: [UInt8] = []
        while true {
            condition.lock()
            var claim: (slot: Slot, from: Int, to: Int, batchStart: Int)? = nil
            while claim == nil {
                if cancelled || nextPosition >= endPosition { break }
                let batch = (nextPosition - startPosition) / options.batchSize
                if batch >= releasedBatches + slots.count {  // its slot still holds a batch not yet released
                    condition.wait()
                    continue
                }
                let batchStart = startPosition + batch * options.batchSize
                let batchEnd = min(batchStart + options.batchSize, endPosition)
                let slot = slots[batch % slots.count]
                if slot.batch != batch {
                    slot.batch = batch
                    slot.filled = 0
                    slot.expected = batchEnd - batchStart
                    slot.error = nil
                }
                let to = min(nextPosition + Self.chunk, batchEnd)
                claim = (slot, nextPosition, to, batchStart)
                nextPosition = to
            }
            condition.unlock()
            guard let (slot, from, to, batchStart) = claim else { return }
            var firstError: (any Error)? = nil
            for position in from..<to {
                let offset = position - batchStart
                let target = slot.pixels.baseAddress!.assumingMemoryBound(to: UInt8.self) + offset * spec.sampleBytes
                var sample = Int(plan.order[position])
                var tried = 0
                while true {
                    do {
                        try render(sample: sample, renderer: renderer, buffer: &encoded, into: target)
                        slot.labels[offset] = table.labels[sample]
                        slot.samples[offset] = UInt32(sample)
                        break
                    } catch {
                        guard options.skipBad else {
                            if firstError == nil { firstError = error }
                            break
                        }
                        markBad(sample)
                        // The next sample in table order that is not known to be bad; every
                        // sample bad (each tried once) fails the batch with the first error.
                        var next: Int? = nil
                        while tried < table.count {
                            tried += 1
                            let candidate = (sample + 1) % table.count
                            sample = candidate
                            if !isBad(candidate) { next = candidate; break }
                        }
                        guard next != nil else {
                            if firstError == nil { firstError = error }
                            break
                        }
                    }
                }
            }
            condition.lock()
            slot.filled += to - from
            if let firstError, slot.error == nil { slot.error = firstError }
            condition.broadcast()
            condition.unlock()
        }
    }

    /// Records a bad sample once (it counts in ``skippedSamples`` once, however often it comes up).
    private func markBad(_ sample: Int) {
        condition.withLock {
            if bad.insert(sample).inserted { skipped.append(table.locations[sample].digest) }
        }
    }

    private func isBad(_ sample: Int) -> Bool { condition.withLock { bad.contains(sample) } }

    /// The sample's own generator: its crop and flip depend on (seed, epoch, sample) alone.
    private func generator(for sample: Int) -> SplitMix64 {
        SplitMix64(keys: config.seed, UInt64(plan.epoch), UInt64(sample), 0x4155_474D)
    }

    /// The crop and flip ``render(sample:renderer:buffer:into:)`` applies, from the same source
    /// (pixel cache or original) and the same generator.
    func choice(sample: Int, renderer: SampleRenderer, buffer: inout [UInt8]) throws -> CropChoice {
        var rng = generator(for: sample)
        let location = table.locations[sample]
        do {
            let range = try store.blobs.read(location, into: &buffer)
            let original = try buffer.withUnsafeBytes { bytes in
                try renderer.imageSize(UnsafeRawBufferPointer(rebasing: bytes[range]))
            }
            if options.useCache, let cached = table.cached[sample] {
                return renderer.choice(cachedWidth: cached.width, cachedHeight: cached.height, originalWidth: original.width,
                                       originalHeight: original.height, rng: &rng)
            }
            return try buffer.withUnsafeBytes { bytes in
                try renderer.choice(encoded: UnsafeRawBufferPointer(rebasing: bytes[range]), rng: &rng)
            }
        } catch {
            let reason = (error as? StoreError)?.description ?? (error as? ImageError)?.reason ?? "\(error)"
            throw LoaderError("sample \(location.digest.hex) (label \(table.labels[sample])): \(reason)")
        }
    }

    private func render(sample: Int, renderer: SampleRenderer, buffer: inout [UInt8], into target: UnsafeMutablePointer<UInt8>) throws {
        var rng = generator(for: sample)
        let location = table.locations[sample]
        do {
            if options.useCache, let cached = table.cached[sample] {
                try store.blobs.withRecord(cached.location, buffer: &buffer) { pixels in
                    guard let base = pixels.baseAddress, pixels.count == cached.width * cached.height * 3 else {
                        throw LoaderError("pixel cache entry has \(pixels.count) bytes, expected \(cached.width)x\(cached.height)x3")
                    }
                    renderer.render(cached: base.assumingMemoryBound(to: UInt8.self), width: cached.width,
                                    height: cached.height, rng: &rng, into: target)
                }
            } else {
                let range = try store.blobs.read(location, into: &buffer)
                try buffer.withUnsafeBytes { bytes in
                    try renderer.render(encoded: UnsafeRawBufferPointer(rebasing: bytes[range]), rng: &rng, into: target)
                }
            }
        } catch {
            let reason = (error as? StoreError)?.description ?? (error as? ImageError)?.reason ?? "\(error)"
            throw LoaderError("sample \(location.digest.hex) (label \(table.labels[sample])): \(reason)")
        }
    }
}

/// A renderer made on the loader's thread, moved to the worker that uses it.
/// `@unchecked Sendable`: the creating thread hands it over before the worker starts and never
/// touches it again; from then on only that one worker uses it.
private final class RendererHandoff: @unchecked Sendable {
    let renderer: SampleRenderer
    init(_ renderer: SampleRenderer) { self.renderer = renderer }
}
