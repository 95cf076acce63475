import Foundation
import GRDB
@testable import LoomStore
import LoomTestSupport
import Testing

@Suite("GarbageCollector")
struct GarbageCollectorTests {
    @Test("gc deletes unreferenced blobs, rewrites or removes their shards, keeps the rest byte-exact")
    func collect() throws {
        let scratch = try ScratchStore()
        // 1000-byte raw blobs make 1064-byte records: with an 8 KiB target and 4 blobs per commit,
        // every shard holds exactly 8 records (blobs 8k..<8k+8 in shard k+1).
        let target = 8 << 10
        let writer = try scratch.makeWriter(targetShardBytes: target)
        let blobs = (0..<48).map { TestBlob.random(1000, seed: 400 + UInt64($0)) }
        // Shard 3 (blobs 16..<24) is all garbage, shard 6 (40..<48) all live, the rest mixed.
        func referenced(_ i: Int) -> Bool { (40..<48).contains(i) || (i % 3 == 0 && !(16..<24).contains(i)) }
        for batch in stride(from: 0, to: blobs.count, by: 4) {
            let range = batch..<(batch + 4)
            try writer.stage(Array(blobs[range]))
            try writer.commit { db, ids in
                try insertRealImages(db, try range.filter(referenced).map { (try #require(ids[blobs[$0].digest]), imagePath($0)) })
            }
        }
        let before = try shardRows(scratch.store)
        #expect(before.map(\.id) == Array(1...7), "layout assumption: 6 sealed shards and an empty open one")
        #expect(before.prefix(6).allSatisfy { $0.sealedBytes != nil })
        for (i, blob) in blobs.enumerated() {
            #expect(try scratch.store.blobs.location(of: blob.digest)?.shardID == Int64(i / 8 + 1))
        }
        let live = blobs.indices.filter(referenced)
        let dead = blobs.indices.filter { !referenced($0) }
        let diskBefore = try shardBytesOnDisk(scratch.layout)

        let report = try GarbageCollector.run(writer)
        #expect(report.deletedBlobs == dead.count)
        #expect(report.removedShards == 5, "shards 1-5 hold garbage")
        #expect(report.rewrittenShards == 4, "shards 1, 2, 4, 5 hold live records too; shard 3 is only removed")
        #expect(report.reclaimedBytes > 0)
        let diskAfter = try shardBytesOnDisk(scratch.layout)
        #expect(diskAfter < diskBefore)
        #expect(diskBefore - diskAfter >= dead.count * 1064 - live.count * 40 - 4 * 96,
                "freed \(diskBefore - diskAfter) bytes for \(dead.count) dead records")

        // The catalog and the directory agree, and no row points into a removed shard.
        let after = try shardRows(scratch.store)
        #expect(try shardFilesOnDisk(scratch.layout) == after.map(\.name))
        #expect(!after.map(\.id).contains { (1...5).contains($0) })
        #expect(after.map(\.id).contains(6))
        #expect(try count(scratch.store, "SELECT count(*) FROM blobs") == live.count)
        #expect(try count(scratch.store, "SELECT count(*) FROM v_real_images") == live.count)
        #expect(try count(scratch.store, "SELECT count(*) FROM blobs WHERE shard_id NOT IN (SELECT id FROM shards)") == 0)

        let reader = try scratch.reopen()
        for i in live {
            #expect(try scratch.store.blobs.read(digest: blobs[i].digest) == blobs[i].bytes, "live blob \(i)")
            #expect(try reader.blobs.read(digest: blobs[i].digest) == blobs[i].bytes, "live blob \(i), fresh store")
        }
        for i in [40, 47] {
            #expect(try scratch.store.blobs.location(of: blobs[i].digest)?.shardID == 6, "untouched shard 6 kept blob \(i)")
        }
        for i in dead {
            let error = #expect(throws: StoreError.self) { try reader.blobs.read(digest: blobs[i].digest) }
            #expect(error?.code == .notFound)
        }
        let verify = try Verifier.run(try scratch.reopen())
        #expect(verify.ok, "\(verify.problems.map(\.reason))")
        #expect(verify.records == live.count)

        // Nothing left to collect.
        let again = try GarbageCollector.run(writer)
        #expect(again.deletedBlobs == 0 && again.removedShards == 0 && again.rewrittenShards == 0 && again.reclaimedBytes == 0)
        #expect(try shardBytesOnDisk(scratch.layout) == diskAfter)
    }

    @Test("gc of the open shard seals it, copies the live records out and removes it")
    func openShard() throws {
        let scratch = try ScratchStore()
        var writer: StoreWriter? = try scratch.makeWriter()
        let blobs = (0..<10).map { TestBlob.random(3000 + $0, seed: 500 + UInt64($0)) } + [.compressible(40_000, seed: 510)]
        try writer!.stage(blobs)
        try writer!.commit { db, ids in
            try insertRealImages(db, try blobs.indices.map { (try #require(ids[blobs[$0].digest]), imagePath($0)) })
        }
        // Deleting a split cascades to its images; their blobs become garbage.
        try writer!.commit { db, _ in
            let moved = try DatasetCatalog.ensureSplit(db, datasetID: try #require(try DatasetCatalog.datasetID(db, name: "ds")), name: "val")
            try db.execute(sql: "UPDATE real_images SET split_id = ? WHERE path IN (?, ?, ?)",
                           arguments: [moved, imagePath(1), imagePath(4), imagePath(10)])
        }
        let removed = try scratch.store.catalog.write { db in try DatasetCatalog.delete(db, dataset: "ds", split: "val") }
        #expect(removed == 3)
        let diskBefore = try shardBytesOnDisk(scratch.layout)
        #expect(writer!.currentShardID == 1)

        let report = try GarbageCollector.run(writer!)
        #expect(report.deletedBlobs == 3)
        #expect(report.removedShards == 1)
        #expect(report.rewrittenShards == 1)
        #expect(writer!.currentShardID == 2)
        #expect(try shardRows(scratch.store).map(\.id) == [2])
        #expect(try shardFilesOnDisk(scratch.layout) == [StoreLayout.shardName(2)])
        #expect(try shardBytesOnDisk(scratch.layout) < diskBefore)
        let live = blobs.indices.filter { ![1, 4, 10].contains($0) }
        for i in live { #expect(try scratch.store.blobs.read(digest: blobs[i].digest) == blobs[i].bytes) }

        // A writer opened afterwards (a new process) finds everything in order and keeps appending.
        writer = nil
        let next = try scratch.makeWriter()
        #expect(next.currentShardID == 2)
        try next.stage([blobs[1]])
        try next.commit { _, _ in }
        let reader = try scratch.reopen()
        for i in live + [1] { #expect(try reader.blobs.read(digest: blobs[i].digest) == blobs[i].bytes) }
        let verify = try Verifier.run(reader)
        #expect(verify.ok, "\(verify.problems.map(\.reason))")
        #expect(verify.records == live.count + 1)
    }
}
