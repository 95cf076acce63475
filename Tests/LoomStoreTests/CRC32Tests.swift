import Foundation
import LoomStore
import Testing

/// Sources/CCRC32/crc32_fold.c against a table-driven CRC-32 written here from the polynomial, at
/// every length across the fold's boundaries (64-byte blocks, 16-byte tail folds, a byte tail)
/// and at unaligned starts.
@Suite struct CRC32Tests {
    private static let table: [UInt32] = (0..<256).map { byte in
        var value = UInt32(byte)
        for _ in 0..<8 { value = value & 1 == 1 ? 0xEDB8_8320 ^ (value >> 1) : value >> 1 }
        return value
    }

    private static func reference(_ bytes: ArraySlice<UInt8>, seed: UInt32 = 0) -> UInt32 {
        var crc = ~seed
        for byte in bytes { crc = table[Int((crc ^ UInt32(byte)) & 0xFF)] ^ (crc >> 8) }
        return ~crc
    }

    private static func checksum(_ bytes: ArraySlice<UInt8>, seed: UInt32 = 0) -> UInt32 {
        bytes.withUnsafeBytes { CRC32.checksum($0, seed: seed) }
    }

    @Test("the check value of the CRC-32/ISO-HDLC catalogue entry")
    func checkValue() {
        #expect(CRC32.checksum(Array("123456789".utf8)) == 0xCBF4_3926)
        #expect(CRC32.checksum([]) == 0)
    }

    @Test("every length from 0 to 700 at unaligned starts, and 1 MiB, match the reference")
    func matchesReference() {
        var rng = SystemRandomNumberGenerator()
        let bytes = (0..<(1 << 20) + 16).map { _ in UInt8.random(in: 0...255, using: &rng) }
        var mismatches: [String] = []
        for offset in [0, 1, 7, 13] {
            for length in 0...700 {
                let slice = bytes[offset..<(offset + length)]
                let seed = UInt32(truncatingIfNeeded: length &* 2_654_435_761)
                if Self.checksum(slice) != Self.reference(slice) { mismatches.append("offset \(offset) length \(length)") }
                if Self.checksum(slice, seed: seed) != Self.reference(slice, seed: seed) {
                    mismatches.append("offset \(offset) length \(length) seeded")
                }
            }
        }
        #expect(mismatches.isEmpty, "\(mismatches.prefix(20))")
        let whole = bytes[3..<(3 + (1 << 20))]
        #expect(Self.checksum(whole) == Self.reference(whole))
    }

    @Test("a checksum continues from a previous one, as zlib's does")
    func chains() {
        let bytes = (0..<5000).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ 7) }
        for cut in [0, 1, 63, 64, 65, 1000, 4999, 5000] {
            let first = Self.checksum(bytes[0..<cut])
            #expect(Self.checksum(bytes[cut...], seed: first) == Self.checksum(bytes[...]), "cut at \(cut)")
        }
    }

    @Test("the folded path is the one taken on an x86-64 CPU with PCLMULQDQ")
    func foldedWhereTheCPUCan() throws {
        #if arch(x86_64)
        let cpuinfo = try String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8)
        let flags = cpuinfo.split(separator: "\n").first { $0.hasPrefix("flags") }.map { Set($0.split(separator: " ")) } ?? []
        #expect(CRC32.isFolded == (flags.contains("pclmulqdq") && flags.contains("sse4_1")))
        #else
        #expect(!CRC32.isFolded)
        #endif
    }
}
