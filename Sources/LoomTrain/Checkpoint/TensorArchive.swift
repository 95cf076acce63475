import Foundation
import LoomStore

/// The checkpoint container: named float32 tensors and string metadata in one self-describing
/// little-endian binary, ending in a CRC-32 of everything before it.
///
/// The layout is documented byte by byte in docs/checkpoint-format.md. Encoding is deterministic:
/// entries are written in the UTF-8 byte order of their names, so equal archives encode to equal
/// bytes (and equal digests in the store). Decoding checks the magic, version, declared length and
/// checksum before reading any entry, so a truncated or corrupted file is rejected with its reason
/// rather than loaded as wrong weights.
public struct TensorArchive: Sendable, Hashable {
    public var tensors: [String: Tensor]
    public var metadata: [String: String]

    public init(tensors: [String: Tensor] = [:], metadata: [String: String] = [:]) {
        self.tensors = tensors
        self.metadata = metadata
    }

    /// "LOOMTENS".
    static let magic: [UInt8] = Array("LOOMTENS".utf8)
    static let version: UInt32 = 1
    /// Element type code of float32, the only one version 1 writes.
    static let float32: UInt32 = 1
    /// magic, version, flags, total length, metadata count, tensor count.
    static let headerSize = 8 + 4 + 4 + 8 + 4 + 4
    static let trailerSize = 4

    static func sortedByBytes(_ names: some Sequence<String>) -> [String] {
        names.sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) }
    }

    /// The archive's bytes.
    /// - Complexity: O(total size); one allocation of the exact size.
    public func encoded() -> [UInt8] {
        let metadataKeys = Self.sortedByBytes(metadata.keys)
        let names = Self.sortedByBytes(tensors.keys)
        var size = Self.headerSize + Self.trailerSize
        for key in metadataKeys { size += 8 + key.utf8.count + metadata[key]!.utf8.count }
        for name in names {
            let t = tensors[name]!
            size += 4 + name.utf8.count + 4 + 4 + 8 * t.shape.count + 4 * t.data.count
        }
        var writer = ByteWriter(capacity: size)
        writer.append(Self.magic)
        writer.append(Self.version)
        writer.append(UInt32(0))
        writer.append(UInt64(size))
        writer.append(UInt32(metadataKeys.count))
        writer.append(UInt32(names.count))
        for key in metadataKeys {
            writer.appendString(key)
            writer.appendString(metadata[key]!)
        }
        for name in names {
            let t = tensors[name]!
            writer.appendString(name)
            writer.append(Self.float32)
            writer.append(UInt32(t.shape.count))
            for d in t.shape { writer.append(UInt64(d)) }
            writer.append(t.data)
        }
        writer.append(CRC32.checksum(writer.bytes))
        precondition(writer.bytes.count == size, "archive size miscounted")
        return writer.bytes
    }

    /// Reads an archive.
    /// - Throws: ``TrainError`` saying what is wrong: not an archive, an unsupported version,
    ///   truncated (or with trailing bytes), a checksum mismatch, or entries that do not add up.
    public init(decoding bytes: [UInt8]) throws {
        let minimum = Self.headerSize + Self.trailerSize
        guard bytes.count >= Self.magic.count, Array(bytes[0..<Self.magic.count]) == Self.magic else {
            throw TrainError(.invalidInput, "not a Loom tensor archive: the file does not start with LOOMTENS")
        }
        guard bytes.count >= minimum else {
            throw TrainError(.corrupt, "tensor archive truncated: \(bytes.count) bytes, shorter than the \(minimum)-byte header and trailer")
        }
        var reader = ByteReader(bytes)
        reader.offset = Self.magic.count
        let version = try reader.read(UInt32.self)
        guard version == Self.version else {
            throw TrainError(.unavailable, "tensor archive version \(version) is not supported (this build reads version \(Self.version))")
        }
        _ = try reader.read(UInt32.self)  // flags: reserved, written as 0
        let declared = try reader.read(UInt64.self)
        guard declared == UInt64(bytes.count) else {
            throw TrainError(.corrupt, declared > UInt64(bytes.count)
                ? "tensor archive truncated: the header declares \(declared) bytes, the file has \(bytes.count)"
                : "tensor archive has \(UInt64(bytes.count) - declared) trailing bytes after the declared \(declared)")
        }
        let body = bytes.count - Self.trailerSize
        let stored = UInt32(littleEndianBytes: bytes[body...])
        let computed = bytes.withUnsafeBytes { CRC32.checksum(UnsafeRawBufferPointer(rebasing: $0[0..<body])) }
        guard stored == computed else {
            throw TrainError(.corrupt, String(format: "tensor archive is corrupt: CRC-32 %08x stored, %08x computed", stored, computed))
        }
        let metadataCount = try reader.read(UInt32.self)
        let tensorCount = try reader.read(UInt32.self)
        reader.end = body
        var metadata: [String: String] = [:]
        for _ in 0..<metadataCount {
            let key = try reader.readString()
            guard metadata.updateValue(try reader.readString(), forKey: key) == nil else {
                throw TrainError(.corrupt, "tensor archive repeats metadata key '\(key)'")
            }
        }
        var tensors: [String: Tensor] = [:]
        for _ in 0..<tensorCount {
            let name = try reader.readString()
            let type = try reader.read(UInt32.self)
            guard type == Self.float32 else { throw TrainError(.corrupt, "tensor '\(name)': element type \(type) is not float32 (1)") }
            let rank = try reader.read(UInt32.self)
            guard rank <= 16 else { throw TrainError(.corrupt, "tensor '\(name)': rank \(rank) is implausible") }
            var shape: [Int] = []
            var count = 1
            for _ in 0..<rank {
                let d = try reader.read(UInt64.self)
                let (product, overflow) = count.multipliedReportingOverflow(by: Int(clamping: d))
                guard d <= UInt64(Int.max), !overflow else { throw TrainError(.corrupt, "tensor '\(name)': shape overflows") }
                shape.append(Int(d))
                count = product
            }
            let data = try reader.readFloats(count, name: name)
            guard tensors.updateValue(Tensor(shape: shape, data: data), forKey: name) == nil else {
                throw TrainError(.corrupt, "tensor archive repeats tensor '\(name)'")
            }
        }
        guard reader.offset == body else {
            throw TrainError(.corrupt, "tensor archive has \(body - reader.offset) unexplained bytes before its checksum")
        }
        self.init(tensors: tensors, metadata: metadata)
    }
}
