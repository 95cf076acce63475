internal import CCRC32

/// CRC-32 (IEEE 802.3, zlib's `crc32`: the one PNG, gzip and Python's `zlib.crc32` compute), the
/// per-record and per-footer checksum of the shard format and the trailer of the trainer's
/// checkpoint archives. It catches torn writes and flipped bits cheaply on every read; SHA-256
/// proves identity. Sources/CCRC32/crc32_fold.c computes it (about 4x zlib's rate on x86-64).
public enum CRC32 {
    public static func checksum(_ bytes: UnsafeRawBufferPointer, seed: UInt32 = 0) -> UInt32 {
        guard let base = bytes.baseAddress, !bytes.isEmpty else { return seed }
        return loom_crc32(seed, base.assumingMemoryBound(to: UInt8.self), bytes.count)
    }

    public static func checksum(_ bytes: [UInt8]) -> UInt32 { bytes.withUnsafeBytes { checksum($0) } }

    /// Whether ``checksum(_:seed:)`` folds with carry-less multiplies on this CPU (x86-64 with
    /// PCLMULQDQ) rather than running zlib's table code.
    public static var isFolded: Bool { loom_crc32_is_folded() != 0 }
}
