import Foundation
@testable import LoomStore
import LoomTestSupport
import Testing

/// `BlobReader.withRecord`: records read in place from a mapping of their shard.
@Suite("BlobReader (mapped reads)")
struct MappedReadTests {
    private static func mapped(_ store: Store, _ location: BlobLocation) throws -> [UInt8] {
        var buffer: [UInt8] = []
        return try store.blobs.withRecord(location, buffer: &buffer) { Array($0) }
    }

    @Test("every codec and size reads the same bytes mapped as with pread, here and from a second store")
    func sameBytesAsPread() throws {
        let scratch = try ScratchStore()
        let writer = try scratch.makeWriter()
        let cases = StoreWriterTests.mixedBlobs()
        let staged = try writer.stage(cases.map(\.blob))
        _ = try writer.commit { _, ids in ids }
        let other = try scratch.reopen()
        for (blob, codec) in cases {
            let location = try #require(staged[blob.digest])
            #expect(location.codec == codec)
            #expect(try Self.mapped(scratch.store, location) == blob.bytes, "\(blob.testDescription)")
            #expect(try Self.mapped(other, location) == blob.bytes, "\(blob.testDescription)")
        }
        let shards = Set(staged.values.map(\.shardID))
        #expect(scratch.store.blobs.mappedShards == shards && other.blobs.mappedShards == shards, "read through the mapping, not pread")
    }

    @Test("records committed after the shard was mapped are read through the mapping the shard grew under")
    func shardGrowsUnderTheMapping() throws {
        let scratch = try ScratchStore()
        let writer = try scratch.makeWriter()
        let reader = try scratch.reopen()
        let first = TestBlob.random(10_000, seed: 21), second = TestBlob.random(300_000, seed: 22)
        let early = try #require(try writer.stage([first])[first.digest])
        _ = try writer.commit { _, ids in ids }
        #expect(try Self.mapped(reader, early) == first.bytes)

        let late = try #require(try writer.stage([second])[second.digest])
        _ = try writer.commit { _, ids in ids }
        #expect(late.shardID == early.shardID, "the test needs both records in one shard")
        #expect(try Self.mapped(reader, late) == second.bytes)
    }

    @Test("a byte flipped in a mapped record is reported as corruption, naming the shard")
    func flippedByteIsCorrupt() throws {
        let scratch = try ScratchStore()
        let writer = try scratch.makeWriter()
        let blob = TestBlob.random(50_000, seed: 23)
        let location = try #require(try writer.stage([blob])[blob.digest])
        _ = try writer.commit { _, ids in ids }
        #expect(try Self.mapped(scratch.store, location) == blob.bytes, "maps the shard before the damage")

        let path = scratch.layout.shardPath(location.shardID)
        try flipByte(path, at: location.offset + location.recordSize - 100)
        let error = #expect(throws: StoreError.self) { try Self.mapped(scratch.store, location) }
        #expect(error?.code == .corrupt, "\(String(describing: error))")
        #expect(error?.path == path && error?.message.contains("checksum") == true, "\(String(describing: error))")
    }

    @Test("records past the end of a cut shard fail as a short read; those before it still read")
    func cutShardFailsCleanly() throws {
        let scratch = try ScratchStore()
        let writer = try scratch.makeWriter()
        let blobs = (0..<4).map { TestBlob.random(40_000, seed: 30 + UInt64($0)) }
        let staged = try writer.stage(blobs)
        _ = try writer.commit { _, ids in ids }
        let locations = blobs.map { staged[$0.digest]! }.sorted { $0.offset < $1.offset }
        let cut = locations[2].offset + 10
        try SystemFile(path: scratch.layout.shardPath(locations[2].shardID), mode: .readWrite).truncate(to: cut)

        let reader = try scratch.reopen()
        for location in locations.prefix(2) {
            #expect(try Self.mapped(reader, location) == blobs.first { $0.digest == location.digest }!.bytes)
        }
        #expect(reader.blobs.mappedShards == [locations[0].shardID], "the records before the cut come through the mapping")
        for location in locations.suffix(2) {
            let error = #expect(throws: StoreError.self) { try Self.mapped(reader, location) }
            #expect(error?.code == .corrupt && error?.message.contains("file ends at") == true, "\(String(describing: error))")
        }
    }
}
