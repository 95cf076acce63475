import LoomParallel
import LoomStore

/// Builds the pixel cache: each sample's evaluation-resized image (short side
/// `spec.evalResize`), raw RGB8, stored as a blob (LZ4 where it pays, or raw: ``Codec``) with a
/// `pixel_cache` row.
///
/// Epochs after the first then skip JPEG decoding: an LZ4 read of a 256-pixel image is several
/// times cheaper than a full decode (measured on the development machine: LZ4 decompresses RGB at
/// ~2.8 GB/s, a core decodes ~1200 500x375 JPEGs/s). Evaluation
/// pixels from the cache are bit-identical to decoding afresh; training crops are cut from the
/// cached image instead of the full-resolution original.
public enum PixelCache {
    public static let mediaType = "application/x-loom-rgb8"

    /// How cache images are stored. LZ4 saves about a fifth of the bytes of photographs' RGB
    /// (the README's benchmark table) and costs a decompress on every read; raw is read straight
    /// into the resampler's source.
    public enum Codec: String, Codable, Sendable, CaseIterable {
        case lz4, raw

        var policy: BlobCodec.Policy { self == .raw ? .raw : .auto }
    }

    public struct Summary: Codable, Sendable {
        public var shortSide: Int
        public var codec: Codec
        public var built: Int
        public var present: Int
        public var failed: [String]
        public var rawBytes: Int
        public var storedBytes: Int
        public var seconds: Double

        enum CodingKeys: String, CodingKey {
            case built, present, failed, seconds, codec
            case shortSide = "short_side"
            case rawBytes = "raw_bytes"
            case storedBytes = "stored_bytes"
        }
    }

    /// Caches every sample of `selection` that has no cache image at `spec.evalResize` yet
    /// (`codec` applies to the images built now; those already present stay as they are).
    public static func build(writer: StoreWriter, selection: Selection, spec: TransformSpec, workers: Int,
                             codec: Codec = .lz4, progress: (Int, Int) -> Void = { _, _ in }) throws -> Summary {
        let clock = ContinuousClock.now
        let store = writer.store
        let shortSide = spec.evalResize
        let table = try SampleTable.load(store, selection: selection, cacheShortSide: shortSide)
        var seen: Set<Digest> = []
        let todo = table.locations.indices.filter { table.cached[$0] == nil && seen.insert(table.locations[$0].digest).inserted }
        var summary = Summary(shortSide: shortSide, codec: codec, built: 0, present: table.count - todo.count, failed: [], rawBytes: 0,
                              storedBytes: 0, seconds: 0)
        let locations = todo.map { table.locations[$0] }
        let map = OrderedParallelMap<Result<(BlobLocation, Int, Int, [UInt8]), LoaderError>>(
            count: locations.count, workers: workers, window: 64
        ) {
            let renderer = try? SampleRenderer(spec: spec)
            return { index in
                let location = locations[index]
                do {
                    guard let renderer else { throw LoaderError("cannot create a JPEG decoder") }
                    let encoded = try store.blobs.read(location, verifyDigest: false)
                    let image = try encoded.withUnsafeBytes { try renderer.renderCacheImage(encoded: $0) }
                    return .success((location, image.width, image.height, image.pixels))
                } catch {
                    return .failure(LoaderError("\(location.digest.hex): \(error)"))
                }
            }
        }
        defer { map.cancel() }
        var pending: [(source: Digest, cache: Digest, width: Int, height: Int)] = []
        func flush() throws {
            let rows = pending
            pending.removeAll()
            try writer.transaction { tx in
                try tx.pixelCache.put(rows.map { PixelCacheEntry(source: $0.source, cache: $0.cache, width: $0.width, height: $0.height) },
                                      shortSide: shortSide)
            }
        }
        var done = 0
        while let result = map.next() {
            done += 1
            switch result {
            case .failure(let error): summary.failed.append(error.message)
            case .success(let (source, width, height, pixels)):
                let digest = Digest.sha256(pixels)
                let before = writer.pendingBytes
                if try writer.committedBlobIDs([digest]).isEmpty {
                    try pixels.withUnsafeBytes { _ = try writer.stage($0, digest: digest, mediaType: mediaType, policy: codec.policy) }
                }
                summary.storedBytes += writer.pendingBytes - before
                summary.rawBytes += pixels.count
                summary.built += 1
                pending.append((source.digest, digest, width, height))
                if writer.pendingBytes >= 64 << 20 || pending.count >= 512 { try flush() }
            }
            progress(done, locations.count)
        }
        try flush()
        summary.seconds = (ContinuousClock.now - clock) / .seconds(1)
        return summary
    }
}
