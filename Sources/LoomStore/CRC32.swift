internal import CZlib

/// CRC-32 (zlib's `crc32`: IEEE 802.3, the one PNG, gzip and Python's `zlib.crc32` compute), the
/// per-record and per-footer checksum of the shard format and the trailer of the trainer's
/// checkpoint archives. It catches torn writes and flipped bits cheaply on every read; SHA-256
/// proves identity.
public enum CRC32 {
    public static func checksum(_ bytes: UnsafeRawBufferPointer, seed: UInt32 = 0) -> UInt32 {
        guard let base = bytes.baseAddress, !bytes.isEmpty else { return seed }
        var crc = UInt(seed)
        var offset = 0
        // zlib takes a 32-bit length: feed very large buffers in pieces.
        while offset < bytes.count {
            let n = min(bytes.count - offset, 1 << 30)
            crc = crc32(crc, base.advanced(by: offset).assumingMemoryBound(to: UInt8.self), UInt32(n))
            offset += n
        }
        return UInt32(truncatingIfNeeded: crc)
    }

    public static func checksum(_ bytes: [UInt8]) -> UInt32 { bytes.withUnsafeBytes { checksum($0) } }
}
