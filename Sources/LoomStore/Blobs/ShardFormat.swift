/// The on-disk shard format, version 1. `docs/shard-format.md` describes the same bytes.
///
/// All integers are little-endian. A shard is a file header, then records back to back, then
/// (once sealed) an index and a trailer. Catalog rows point at record offsets.
public enum ShardFormat {
    public static let version: UInt16 = 1
    static let fileMagic = Array("LOOMSHRD".utf8)
    static let recordMagic = Array("LREC".utf8)
    static let trailerMagic = Array("LOOMINDX".utf8)

    public static let fileHeaderSize = 32
    public static let recordHeaderSize = 64
    static let indexEntrySize = 40
    static let trailerSize = 32

    /// Sizes, offsets and counts in record headers and trailers are below 2^56 (64 PiB). A
    /// larger value is damage or a crafted file (the CRC-32 does not stop a forger), and
    /// refusing it keeps the sums readers compute from those fields well inside `Int`.
    static let maxFieldValue: UInt64 = 1 << 56

    /// Codec of a record's payload.
    public enum Codec: UInt8, Sendable, CaseIterable {
        /// The original bytes, as they came.
        case raw = 0
        /// One standard LZ4 frame (`lz4 -d` reads it) holding the original bytes.
        case lz4 = 1

        public var name: String { self == .raw ? "raw" : "lz4" }

        public init?(name: String) { self.init(utf8Name: name.utf8) }

        /// The codec a name's UTF-8 bytes spell, read in place: the sample query matches each
        /// row's codec column this way rather than making a String per row.
        public init?(utf8Name bytes: some Collection<UInt8>) {
            if bytes.elementsEqual("raw".utf8) {
                self = .raw
            } else if bytes.elementsEqual("lz4".utf8) {
                self = .lz4
            } else {
                return nil
            }
        }
    }

    /// The fixed-size header in front of each record's payload.
    public struct RecordHeader: Equatable, Sendable {
        public var codec: Codec
        public var storedSize: Int
        public var rawSize: Int
        public var digest: Digest
        public var payloadCRC: UInt32

        public var recordSize: Int { ShardFormat.recordHeaderSize + storedSize }
    }

    static func encodeFileHeader(shardID: Int64) -> [UInt8] {
        var bytes = fileMagic
        bytes.appendLE(UInt16(version))
        bytes.appendLE(UInt16(fileHeaderSize))
        bytes.appendLE(UInt32(0))
        bytes.appendLE(UInt64(shardID))
        bytes.appendLE(UInt32(0))
        bytes.appendLE(bytes.withUnsafeBytes { CRC32.checksum($0) })
        return bytes
    }

    /// Checks magic, version and checksum of a file header; returns the shard id it names.
    static func decodeFileHeader(_ bytes: [UInt8]) -> Result<Int64, FormatProblem> {
        guard bytes.count >= fileHeaderSize, Array(bytes[0..<8]) == fileMagic else {
            return .failure(FormatProblem("not a Loom shard (bad magic)"))
        }
        let crc = bytes.withUnsafeBytes { CRC32.checksum(UnsafeRawBufferPointer(rebasing: $0[0..<28])) }
        guard crc == bytes.readLE(UInt32.self, at: 28) else { return .failure(FormatProblem("file header checksum mismatch")) }
        let version = bytes.readLE(UInt16.self, at: 8)
        guard version == Self.version else {
            return .failure(FormatProblem("shard format version \(version), this loom reads version \(Self.version)"))
        }
        return .success(Int64(bitPattern: bytes.readLE(UInt64.self, at: 16)))
    }

    static func encodeRecordHeader(_ header: RecordHeader, into bytes: inout [UInt8]) {
        let start = bytes.count
        bytes.append(contentsOf: recordMagic)
        bytes.append(header.codec.rawValue)
        bytes.append(contentsOf: [0, 0, 0])
        bytes.appendLE(UInt64(header.storedSize))
        bytes.appendLE(UInt64(header.rawSize))
        bytes.append(contentsOf: header.digest.rawBytes)
        bytes.appendLE(header.payloadCRC)
        let crc = bytes.withUnsafeBytes { CRC32.checksum(UnsafeRawBufferPointer(rebasing: $0[start..<(start + 60)])) }
        bytes.appendLE(crc)
    }

    /// Parses and checks a record header (magic, codec, header checksum).
    static func decodeRecordHeader(_ bytes: UnsafeRawBufferPointer) -> Result<RecordHeader, FormatProblem> {
        guard bytes.count >= recordHeaderSize else { return .failure(FormatProblem("record header cut short")) }
        guard bytes[0] == recordMagic[0], bytes[1] == recordMagic[1], bytes[2] == recordMagic[2], bytes[3] == recordMagic[3] else {
            return .failure(FormatProblem("no record magic"))
        }
        let crc = CRC32.checksum(UnsafeRawBufferPointer(rebasing: bytes[0..<60]))
        guard crc == bytes.loadLE(UInt32.self, at: 60) else { return .failure(FormatProblem("record header checksum mismatch")) }
        guard let codec = Codec(rawValue: bytes[4]) else { return .failure(FormatProblem("unknown codec \(bytes[4])")) }
        let storedSize = bytes.loadLE(UInt64.self, at: 8), rawSize = bytes.loadLE(UInt64.self, at: 16)
        guard storedSize < maxFieldValue, rawSize < maxFieldValue else {
            return .failure(FormatProblem("record header gives an impossible size (stored \(storedSize), raw \(rawSize) bytes)"))
        }
        let digest = Digest(raw: UnsafeRawBufferPointer(rebasing: bytes[24..<56]))!
        return .success(RecordHeader(
            codec: codec, storedSize: Int(storedSize), rawSize: Int(rawSize),
            digest: digest, payloadCRC: bytes.loadLE(UInt32.self, at: 56)))
    }

    static func encodeFooter(entries: [(digest: Digest, offset: Int)], indexOffset: Int) -> [UInt8] {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(entries.count * indexEntrySize + trailerSize)
        for entry in entries {
            bytes.append(contentsOf: entry.digest.rawBytes)
            bytes.appendLE(UInt64(entry.offset))
        }
        let indexCRC = bytes.withUnsafeBytes { CRC32.checksum($0) }
        let trailerStart = bytes.count
        bytes.append(contentsOf: trailerMagic)
        bytes.appendLE(UInt64(indexOffset))
        bytes.appendLE(UInt64(entries.count))
        bytes.appendLE(indexCRC)
        let trailerCRC = bytes.withUnsafeBytes { CRC32.checksum(UnsafeRawBufferPointer(rebasing: $0[trailerStart..<(trailerStart + 28)])) }
        bytes.appendLE(trailerCRC)
        return bytes
    }

    /// Parses a trailer (the last 32 bytes of a sealed shard).
    static func decodeTrailer(_ bytes: [UInt8]) -> Result<(indexOffset: Int, count: Int, indexCRC: UInt32), FormatProblem> {
        guard bytes.count == trailerSize, Array(bytes[0..<8]) == trailerMagic else {
            return .failure(FormatProblem("sealed shard has no index trailer"))
        }
        let crc = bytes.withUnsafeBytes { CRC32.checksum(UnsafeRawBufferPointer(rebasing: $0[0..<28])) }
        guard crc == bytes.readLE(UInt32.self, at: 28) else { return .failure(FormatProblem("index trailer checksum mismatch")) }
        let indexOffset = bytes.readLE(UInt64.self, at: 8), count = bytes.readLE(UInt64.self, at: 16)
        guard indexOffset < maxFieldValue, count < maxFieldValue else {
            return .failure(FormatProblem("index trailer gives an impossible index (offset \(indexOffset), \(count) records)"))
        }
        return .success((Int(indexOffset), Int(count), bytes.readLE(UInt32.self, at: 24)))
    }

    /// A structural problem found in shard bytes.
    public struct FormatProblem: Error, CustomStringConvertible, Sendable {
        public var description: String
        init(_ description: String) { self.description = description }
    }
}

extension Array where Element == UInt8 {
    mutating func appendLE<T: FixedWidthInteger>(_ value: T) {
        Swift.withUnsafeBytes(of: value.littleEndian) { append(contentsOf: $0) }
    }

    func readLE<T: FixedWidthInteger>(_ type: T.Type, at offset: Int) -> T {
        withUnsafeBytes { $0.loadLE(type, at: offset) }
    }
}

extension UnsafeRawBufferPointer {
    func loadLE<T: FixedWidthInteger>(_ type: T.Type, at offset: Int) -> T {
        T(littleEndian: loadUnaligned(fromByteOffset: offset, as: T.self))
    }
}
