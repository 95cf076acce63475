import Foundation
@testable import LoomStore
import LoomTestSupport
import Testing

/// Inputs the `shard` fuzz target (Fuzz/shard, `tools/fuzz shard`) crashed on; the raw crash
/// files are in Fuzz/crashes/shard/. The fuzzer rewrites the CRC-32s of what it mutates, as
/// anyone crafting a shard can: a checksum catches damage, not intent.
@Suite("Fuzz regressions: shard format", .tags(.hardening))
struct FuzzRegressionShardTests {
    /// A record header with the given size fields and correct checksums.
    static func recordHeader(storedSize: UInt64, rawSize: UInt64, codec: UInt8 = 0) -> [UInt8] {
        var bytes = Array("LREC".utf8) + [codec, 0, 0, 0]
        bytes.appendLE(storedSize)
        bytes.appendLE(rawSize)
        bytes += [UInt8](repeating: 0xAB, count: 32)
        bytes.appendLE(UInt32(0))
        bytes.appendLE(bytes.withUnsafeBytes { CRC32.checksum($0) })
        return bytes
    }

    static func trailer(indexOffset: UInt64, count: UInt64) -> [UInt8] {
        var bytes = Array("LOOMINDX".utf8)
        bytes.appendLE(indexOffset)
        bytes.appendLE(count)
        bytes.appendLE(UInt32(0))
        bytes.appendLE(bytes.withUnsafeBytes { CRC32.checksum($0) })
        return bytes
    }

    static func failure<T>(_ result: Result<T, ShardFormat.FormatProblem>) -> String? {
        if case .failure(let problem) = result { return problem.description }
        return nil
    }

    // Fuzz/crashes/shard/record-stored-size-over-int-max: a stored size of 0xAFAF...AF trapped
    // converting to Int (and any size near Int.max overflowed `recordSize`).
    @Test("a record header whose size does not fit the format is refused, not a crash",
          arguments: [(0xAFAF_AFAF_AFAF_AFAF, 0), (UInt64(Int.max) - 10, 5), (5, .max), (1 << 56, 0)] as [(UInt64, UInt64)])
    func recordSizeOutOfRange(storedSize: UInt64, rawSize: UInt64) throws {
        let header = Self.recordHeader(storedSize: storedSize, rawSize: rawSize)
        let problem = try #require(Self.failure(header.withUnsafeBytes { ShardFormat.decodeRecordHeader($0) }))
        #expect(problem.contains("size"), "\(problem)")
    }

    @Test("the largest sizes the format allows still decode")
    func recordSizeAtLimit() throws {
        let largest: UInt64 = (1 << 56) - 1  // docs/shard-format.md: sizes, offsets and counts stay below 2^56
        let decoded = try Self.recordHeader(storedSize: largest, rawSize: largest).withUnsafeBytes {
            try ShardFormat.decodeRecordHeader($0).get()
        }
        #expect(decoded.storedSize == Int(largest) && decoded.recordSize == Int(largest) + ShardFormat.recordHeaderSize)
    }

    // The same conversion in the index trailer: `loom verify` read the offset and count of a
    // sealed shard's trailer as Int, and multiplied the count by the entry size.
    @Test("an index trailer whose offset or count does not fit the format is refused, not a crash",
          arguments: [(.max, 1), (32, UInt64(Int.max)), (32, UInt64(Int.max / 40) + 1), (1 << 56, 0)] as [(UInt64, UInt64)])
    func trailerOutOfRange(indexOffset: UInt64, count: UInt64) throws {
        let problem = try #require(Self.failure(ShardFormat.decodeTrailer(Self.trailer(indexOffset: indexOffset, count: count))))
        #expect(problem.contains("index trailer"), "\(problem)")
    }

    @Test("loom verify reports a crafted record header as damage and goes on")
    func verifierSurvivesCraftedRecord() throws {
        let scratch = try ScratchStore()
        let writer = try scratch.makeWriter()
        let blobs = [TestBlob.random(100, seed: 1), TestBlob.random(200, seed: 2)]
        _ = try writer.stage(blobs)
        _ = try writer.commit { _, ids in ids }
        let location = try #require(try scratch.store.blobs.location(of: blobs[0].digest))
        let file = try SystemFile(path: scratch.layout.shardPath(location.shardID), mode: .readWrite)
        var header = Self.recordHeader(storedSize: 0xAFAF_AFAF_AFAF_AFAF, rawSize: 100)
        header.replaceSubrange(24..<56, with: blobs[0].digest.rawBytes)
        header.replaceSubrange(60..<64, with: [UInt8](repeating: 0, count: 4))
        let crc = header.withUnsafeBytes { CRC32.checksum(UnsafeRawBufferPointer(rebasing: $0[0..<60])) }
        withUnsafeBytes(of: crc.littleEndian) { header.replaceSubrange(60..<64, with: $0) }
        try header.withUnsafeBytes { try file.write($0, at: location.offset) }

        let report = try Verifier.run(try scratch.reopen())
        #expect(!report.ok && report.records == 2)
        #expect(report.problems.count == 1)
        #expect(report.problems.first?.digest == blobs[0].digest.hex)
        #expect(report.problems.first?.reason.contains("size") == true, "\(report.problems)")
    }
}
