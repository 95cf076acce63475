import Foundation
import GRDB
@testable import LoomStore
import LoomTestSupport
import Testing

@Suite("Recovery")
struct RecoveryTests {
    @Test("a new writer cuts uncommitted bytes, removes stray shards and tmp files, keeps committed data")
    func crashAfterWriteBeforeCommit() throws {
        let scratch = try ScratchStore()
        let committed = (0..<8).map { TestBlob.random(300 * $0, seed: 200 + UInt64($0)) } + [.compressible(10_000, seed: 208)]
        let uncommitted = TestBlob.random(5000, seed: 209)
        var writer: StoreWriter? = try scratch.makeWriter(writeBufferBytes: 1)
        try writer!.stage(Array(committed.prefix(4)))
        try writer!.commit { _, _ in }
        try writer!.stage(Array(committed.dropFirst(4)))
        try writer!.commit { _, _ in }
        let shardID = writer!.currentShardID
        let shardPath = scratch.layout.shardPath(shardID)
        let committedBytes = try #require(try shardRows(scratch.store).first).committedBytes

        // The crash: a record written (and flushed, the buffer is 1 byte) but never committed,
        // then the process dies (no commit, no cleanup; dropping the writer releases the lock).
        try writer!.stage([uncommitted])
        writer = nil
        #expect(try fileSize(shardPath) > committedBytes)
        // Torn garbage past the record, a shard file no row names, a partial file in tmp/.
        try append(randomBytes(777, seed: 210), to: shardPath)
        let stray = scratch.layout.shardsDirectory + "/000099.loom"
        try Data(ShardFormat.encodeFileHeader(shardID: 99) + randomBytes(100, seed: 211)).write(to: URL(fileURLWithPath: stray))
        let tmpFile = scratch.layout.tmpDirectory + "/ingest-partial.bin"
        try Data(randomBytes(64, seed: 212)).write(to: URL(fileURLWithPath: tmpFile))
        // Files that are not shards are none of recovery's business.
        let notAShard = scratch.layout.shardsDirectory + "/README"
        try Data("keep me".utf8).write(to: URL(fileURLWithPath: notAShard))

        // Readers never see the uncommitted record.
        let reader = try scratch.reopen()
        #expect(try reader.blobs.location(of: uncommitted.digest) == nil)

        let recovered = try scratch.makeWriter(writeBufferBytes: 1)
        #expect(recovered.currentShardID == shardID)
        #expect(try fileSize(shardPath) == committedBytes)
        #expect(!fileExists(stray), "stray shard file survived recovery")
        #expect(!fileExists(tmpFile), "tmp file survived recovery")
        #expect(fileExists(scratch.layout.tmpDirectory))
        #expect(fileExists(notAShard))
        #expect(try shardRows(scratch.store).count == 1)
        for blob in committed { #expect(try scratch.store.blobs.read(digest: blob.digest) == blob.bytes) }

        // Appends continue right at the committed end, and the store verifies.
        let locations = try recovered.stage([uncommitted])
        #expect(locations[uncommitted.digest]?.offset == committedBytes)
        try recovered.commit { _, _ in }
        for blob in committed + [uncommitted] {
            #expect(try scratch.store.blobs.read(digest: blob.digest) == blob.bytes)
            #expect(try reader.blobs.read(digest: blob.digest) == blob.bytes)
        }
        let report = try Verifier.run(try scratch.reopen())
        #expect(report.ok, "\(report.problems.map(\.reason))")
        #expect(report.records == committed.count + 1)
    }

    @Test("recovery on a store whose newest shard was sealed before the crash starts a new shard")
    func allShardsSealed() throws {
        let scratch = try ScratchStore()
        let blob = TestBlob.random(2000, seed: 220)
        do {
            let writer = try scratch.makeWriter()
            try writer.stage([blob])
            try writer.commit { _, _ in }
            try writer.rollOver()
        }
        // Simulate a crash right after sealing: the next shard's file exists (header only) but
        // its row was never written, nor (with AUTOINCREMENT) the sequence bumped.
        let shards = try shardRows(scratch.store)
        #expect(shards.count == 2)
        #expect(fileExists(scratch.layout.shardPath(2)))
        try scratch.store.catalog.write { db in
            try db.execute(sql: "DELETE FROM shards WHERE id = 2")
            if try db.tableExists("sqlite_sequence") {
                try db.execute(sql: "UPDATE sqlite_sequence SET seq = 1 WHERE name = 'shards'")
            }
        }
        let writer = try scratch.makeWriter()
        #expect(writer.currentShardID == 2)
        #expect(try shardRows(scratch.store).map(\.id) == [1, 2])
        #expect(try fileSize(scratch.layout.shardPath(2)) == ShardFormat.fileHeaderSize)
        #expect(try scratch.store.blobs.read(digest: blob.digest) == blob.bytes)
        #expect(try Verifier.run(try scratch.reopen()).ok)
    }

    @Test("an open shard shorter than its committed length is reported, not silently truncated")
    func shardShorterThanCommitted() throws {
        let scratch = try ScratchStore()
        do {
            let writer = try scratch.makeWriter()
            try writer.stage([.random(4000, seed: 230)])
            try writer.commit { _, _ in }
        }
        let path = scratch.layout.shardPath(1)
        let file = try SystemFile(path: path, mode: .readWrite)
        try file.truncate(to: try file.size() - 10)
        let error = #expect(throws: StoreError.self) { try scratch.makeWriter() }
        #expect(error?.code == .corrupt)
        #expect(error?.path == path)
    }
}
