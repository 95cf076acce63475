internal import CLibCrypto

/// The identity of a blob: SHA-256 of its original bytes.
///
/// Held inline as 32 bytes (no heap allocation), so index arrays of millions of digests stay
/// compact and hashing them is cheap.
public struct Digest: Hashable, Sendable, Comparable, CustomStringConvertible {
    public private(set) var bytes: SIMD32<UInt8>

    public init(bytes: SIMD32<UInt8>) { self.bytes = bytes }

    /// Reads 32 raw bytes; returns nil for any other length.
    public init?(raw: some Collection<UInt8>) {
        guard raw.count == 32 else { return nil }
        if let value = raw.withContiguousStorageIfAvailable({ UnsafeRawBufferPointer($0).loadUnaligned(as: SIMD32<UInt8>.self) }) {
            bytes = value
            return
        }
        var value = SIMD32<UInt8>()
        for (i, byte) in raw.enumerated() { value[i] = byte }
        bytes = value
    }

    /// Parses 64 hex digits (either case). Straight into the inline bytes, with no array between:
    /// lineage listings parse two digests per row of `v_lineage`.
    public init?(hex: String) {
        var text = hex
        let parsed: SIMD32<UInt8>? = text.withUTF8 { utf8 in
            guard utf8.count == 64 else { return nil }
            var value = SIMD32<UInt8>()
            for i in 0..<32 {
                guard let high = Digest.nibble(utf8[2 * i]), let low = Digest.nibble(utf8[2 * i + 1]) else { return nil }
                value[i] = high << 4 | low
            }
            return value
        }
        guard let parsed else { return nil }
        bytes = parsed
    }

    @inline(__always)
    static func nibble(_ char: UInt8) -> UInt8? {
        switch char {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): char - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): char - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): char - UInt8(ascii: "A") + 10
        default: nil
        }
    }

    /// SHA-256 of `data` (OpenSSL `EVP_Digest`, which uses the SHA extensions where the CPU has them).
    public static func sha256(_ data: UnsafeRawBufferPointer) -> Digest {
        var out = SIMD32<UInt8>()
        var length: UInt32 = 32
        let ok = withUnsafeMutableBytes(of: &out) { target in
            EVP_Digest(data.baseAddress, data.count, target.baseAddress?.assumingMemoryBound(to: UInt8.self),
                       &length, EVP_sha256(), nil)
        }
        precondition(ok == 1 && length == 32, "EVP_Digest(SHA-256) failed")
        return Digest(bytes: out)
    }

    public static func sha256(_ data: [UInt8]) -> Digest { data.withUnsafeBytes { sha256($0) } }

    /// Lowercase hex, the form users see and type.
    public var hex: String {
        let digits = Array("0123456789abcdef".utf8)
        var chars = [UInt8](repeating: 0, count: 64)
        for i in 0..<32 {
            chars[2 * i] = digits[Int(bytes[i] >> 4)]
            chars[2 * i + 1] = digits[Int(bytes[i] & 0x0F)]
        }
        return String(decoding: chars, as: UTF8.self)
    }

    public var rawBytes: [UInt8] { (0..<32).map { bytes[$0] } }

    public var description: String { hex }

    public static func < (lhs: Digest, rhs: Digest) -> Bool {
        for i in 0..<32 where lhs.bytes[i] != rhs.bytes[i] { return lhs.bytes[i] < rhs.bytes[i] }
        return false
    }

    static func decodeHex(_ text: String) -> [UInt8]? {
        var result: [UInt8] = []
        result.reserveCapacity(text.utf8.count / 2)
        var high: UInt8? = nil
        for char in text.utf8 {
            guard let nibble = nibble(char) else { return nil }
            if let h = high { result.append(h << 4 | nibble); high = nil } else { high = nibble }
        }
        return high == nil ? result : nil
    }
}
