import Glibc
import LoomStore

/// A sample table's rows as fixed-size little-endian records: the same bytes in memory and in a
/// saved table file (``SampleTableFile``), so a saved table is mapped, never parsed, and a
/// million-row table costs the pages a run touches rather than a load.
///
/// A sample record (88 bytes): location (72), blob id (8), label (4), index of its pixel-cache
/// record or -1 (4). A location: digest (32), shard id, offset, stored size, raw size (8 each),
/// codec (1), padding (7). A cache record (80 bytes): location (72), width, height (4 each).
final class SampleRows: @unchecked Sendable {
    static let sampleSize = 88
    static let cacheSize = 80

    let samples: UnsafeRawBufferPointer
    let cache: UnsafeRawBufferPointer
    var count: Int { samples.count / Self.sampleSize }
    var cacheCount: Int { cache.count / Self.cacheSize }
    /// Whether the records are mapped from a saved file (else they live on the heap).
    let isMapped: Bool
    private let release: @Sendable () -> Void

    init(samples: UnsafeRawBufferPointer, cache: UnsafeRawBufferPointer, isMapped: Bool, release: @escaping @Sendable () -> Void) {
        self.samples = samples
        self.cache = cache
        self.isMapped = isMapped
        self.release = release
    }

    deinit { release() }

    func location(_ index: Int) -> BlobLocation { Self.location(at: samples.baseAddress! + index * Self.sampleSize) }
    func blobID(_ index: Int) -> Int64 { Self.int64(samples.baseAddress! + index * Self.sampleSize + 72) }
    func label(_ index: Int) -> Int32 { Self.int32(samples.baseAddress! + index * Self.sampleSize + 80) }

    func cached(_ index: Int) -> SampleTable.CachedPixels? {
        let slot = Self.int32(samples.baseAddress! + index * Self.sampleSize + 84)
        // A slot past the cache records (a damaged file) falls back to the encoded image.
        guard slot >= 0, Int(slot) < cacheCount else { return nil }
        let record = cache.baseAddress! + Int(slot) * Self.cacheSize
        return SampleTable.CachedPixels(location: Self.location(at: record),
                                        width: Int(Self.int32(record + 72)), height: Int(Self.int32(record + 76)))
    }

    // MARK: Record fields

    static let codecs: [ShardFormat.Codec] = [.raw, .lz4]
    static func codec(_ byte: UInt8) -> ShardFormat.Codec? { Int(byte) < codecs.count ? codecs[Int(byte)] : nil }

    private static func int64(_ pointer: UnsafeRawPointer) -> Int64 { Int64(littleEndian: pointer.loadUnaligned(as: Int64.self)) }
    private static func int32(_ pointer: UnsafeRawPointer) -> Int32 { Int32(littleEndian: pointer.loadUnaligned(as: Int32.self)) }

    private static func location(at record: UnsafeRawPointer) -> BlobLocation {
        // An unknown codec byte (a damaged file) reads as raw: the shard record's own header then
        // disagrees, and the read fails as corrupt naming the blob.
        BlobLocation(digest: Digest(bytes: record.loadUnaligned(as: SIMD32<UInt8>.self)), shardID: int64(record + 32),
                     offset: Int(int64(record + 40)), storedSize: Int(int64(record + 48)), rawSize: Int(int64(record + 56)),
                     codec: codec(record.load(fromByteOffset: 64, as: UInt8.self)) ?? .raw)
    }

    /// Appends records to heap buffers that grow by doubling.
    struct Builder {
        private var samples = GrowingBytes()
        private var cache = GrowingBytes()

        mutating func reserve(samples count: Int) { samples.reserve(count * SampleRows.sampleSize) }

        mutating func append(location: BlobLocation, blobID: Int64, label: Int32, cached: SampleTable.CachedPixels?) {
            var slot: Int32 = -1
            if let cached {
                slot = Int32(cache.count / SampleRows.cacheSize)
                let record = cache.extend(by: SampleRows.cacheSize)
                Self.store(cached.location, at: record)
                record.storeBytes(of: Int32(cached.width).littleEndian, toByteOffset: 72, as: Int32.self)
                record.storeBytes(of: Int32(cached.height).littleEndian, toByteOffset: 76, as: Int32.self)
            }
            let record = samples.extend(by: SampleRows.sampleSize)
            Self.store(location, at: record)
            record.storeBytes(of: blobID.littleEndian, toByteOffset: 72, as: Int64.self)
            record.storeBytes(of: label.littleEndian, toByteOffset: 80, as: Int32.self)
            record.storeBytes(of: slot.littleEndian, toByteOffset: 84, as: Int32.self)
        }

        private static func store(_ location: BlobLocation, at record: UnsafeMutableRawPointer) {
            record.storeBytes(of: location.digest.bytes, as: SIMD32<UInt8>.self)
            record.storeBytes(of: location.shardID.littleEndian, toByteOffset: 32, as: Int64.self)
            record.storeBytes(of: Int64(location.offset).littleEndian, toByteOffset: 40, as: Int64.self)
            record.storeBytes(of: Int64(location.storedSize).littleEndian, toByteOffset: 48, as: Int64.self)
            record.storeBytes(of: Int64(location.rawSize).littleEndian, toByteOffset: 56, as: Int64.self)
            record.storeBytes(of: UInt8(SampleRows.codecs.firstIndex(of: location.codec)!), toByteOffset: 64, as: UInt8.self)
            (record + 65).initializeMemory(as: UInt8.self, repeating: 0, count: 7)
        }

        func finish() -> SampleRows {
            let (samples, cache) = (samples.take(), cache.take())
            // Addresses, not pointers, cross into the Sendable release closure.
            let addresses = (UInt(bitPattern: samples.baseAddress), UInt(bitPattern: cache.baseAddress))
            return SampleRows(samples: UnsafeRawBufferPointer(samples), cache: UnsafeRawBufferPointer(cache), isMapped: false) {
                free(UnsafeMutableRawPointer(bitPattern: addresses.0))
                free(UnsafeMutableRawPointer(bitPattern: addresses.1))
            }
        }
    }
}

/// A heap byte buffer grown with `realloc`, handed over to its owner when done.
private struct GrowingBytes {
    private var base: UnsafeMutableRawPointer?
    private var capacity = 0
    private(set) var count = 0

    mutating func reserve(_ bytes: Int) {
        guard bytes > capacity else { return }
        guard let grown = realloc(base, bytes) else { fatalError("out of memory growing a sample table to \(bytes) bytes") }
        base = grown
        capacity = bytes
    }

    /// Room for `bytes` more at the end, returned for the caller to fill.
    mutating func extend(by bytes: Int) -> UnsafeMutableRawPointer {
        if count + bytes > capacity { reserve(max(count + bytes, capacity * 2, 4096)) }
        defer { count += bytes }
        return base! + count
    }

    /// The filled bytes; the caller frees them with `free`.
    func take() -> UnsafeMutableRawBufferPointer {
        UnsafeMutableRawBufferPointer(start: base, count: count)
    }
}
