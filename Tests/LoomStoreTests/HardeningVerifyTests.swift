import Foundation
import GRDB
@testable import LoomStore
import LoomTestSupport
import Testing

/// Findings 8 and 9 of the hardening review, at the library level: `verify` must see an index
/// that disagrees with its table, must name exactly the records a cut shard lost, and a missing
/// shard must not stop every writer.
@Suite("Verifier and repair (hardening)")
struct HardeningVerifyTests {
    /// 12 blobs with one real image each, all in the open shard 1.
    struct Fixture {
        let scratch: ScratchStore
        let blobs: [TestBlob]
        let locations: [BlobLocation]

        init(count: Int = 12) throws {
            let scratch = try ScratchStore()
            let blobs = (0..<count).map { TestBlob.random(700 + 13 * $0, seed: 900 + UInt64($0), mediaType: "image/jpeg") }
            let writer = try scratch.makeWriter()
            try writer.stage(blobs)
            try writer.commit { db, ids in
                try insertRealImages(db, try blobs.indices.map { (try #require(ids[blobs[$0].digest]), imagePath($0)) })
            }
            self.scratch = scratch
            self.blobs = blobs
            locations = try blobs.map { try #require(try scratch.store.blobs.location(of: $0.digest)) }
        }
    }

    @Test("verify runs integrity_check: an index that disagrees with its table fails it", .tags(.hardening))
    func indexCorruptionIsCaught() throws {
        let fixture = try Fixture()
        let path = fixture.scratch.layout.catalogPath
        // Make the index on real_images(blob_id) claim to index class_id instead: its entries no
        // longer match the rows. quick_check does not compare index contents; integrity_check does.
        let queue = try DatabaseQueue(path: path)
        try queue.writeWithoutTransaction { db in
            try db.execute(sql: "PRAGMA writable_schema = ON")
            try db.execute(sql: """
                UPDATE sqlite_master SET sql = 'CREATE INDEX real_images_by_blob ON real_images(class_id)'
                WHERE name = 'real_images_by_blob'
                """)
            try db.execute(sql: "PRAGMA writable_schema = OFF")
        }
        try queue.close()
        let check = try DatabaseQueue(path: path)
        #expect(try check.read { try String.fetchAll($0, sql: "PRAGMA quick_check") } == ["ok"],
                "the damage must be one quick_check misses, or this test proves nothing")
        try check.close()

        let report = try Verifier.run(try fixture.scratch.reopen())
        #expect(!report.ok, "an index corruption went unnoticed")
        #expect(report.catalog != "ok" && report.catalog.contains("real_images_by_blob"), "\(report.catalog)")

        let quick = try Verifier.run(try fixture.scratch.reopen(), catalogCheck: .quick)
        #expect(quick.catalog == "ok", "--quick keeps the cheaper check")
    }

    @Test("a cut shard: the records before the cut verify and count, each record past it is named", .tags(.hardening))
    func truncatedShardIsReportedPerRecord() throws {
        let fixture = try Fixture()
        let layout = fixture.scratch.layout
        // Cut inside record 8: records 0...7 survive whole, 8...11 are lost.
        let cut = fixture.locations[8].offset + 20
        let file = try SystemFile(path: layout.shardPath(1), mode: .readWrite)
        try file.truncate(to: cut)

        let report = try Verifier.run(try fixture.scratch.reopen())
        #expect(!report.ok)
        #expect(report.records == 12)
        #expect(report.bytes == fixture.locations[0..<8].reduce(0) { $0 + $1.recordSize },
                "the intact records count as checked")
        let perRecord = report.problems.filter { $0.digest != nil }
        #expect(perRecord.map(\.digest) == fixture.blobs[8...].map(\.digest.hex), "\(report.problems.map(\.reason))")
        #expect(perRecord.map(\.offset) == fixture.locations[8...].map(\.offset))
        #expect(perRecord.map(\.rows) == (8..<12).map { [VerifyReport.AffectedRow(dataset: "ds", split: "train", path: imagePath($0))] })
        #expect(perRecord.allSatisfy { $0.reason.contains("cut") }, "\(perRecord.map(\.reason))")
        // The shard's own problem names no rows: those are the per-record problems' business.
        #expect(report.problems.filter { $0.digest == nil }.allSatisfy { $0.rows.isEmpty })
        #expect(Set(report.problems.flatMap(\.rows).map(\.path)) == Set((8..<12).map(imagePath)))
    }

    @Test("a missing shard does not stop a writer; new bytes go to a new shard and heal lost blobs", .tags(.hardening))
    func missingShardDoesNotBlockWrites() throws {
        let fixture = try Fixture()
        let layout = fixture.scratch.layout
        try FileManager.default.removeItem(atPath: layout.shardPath(1))

        let writer = try fixture.scratch.makeWriter()
        #expect(writer.currentShardID != 1)
        #expect(writer.missingShards.map(\.name) == ["000001.loom"])
        // A lost blob is not "already stored": staging its bytes again stores them anew.
        let lost = fixture.blobs[3]
        #expect(try writer.committedBlobIDs([lost.digest]).isEmpty)
        try writer.stage([lost])
        try writer.commit { _, _ in }
        #expect(try fixture.scratch.reopen().blobs.read(digest: lost.digest) == lost.bytes)
    }

    @Test("repair of a cut open shard and a damaged record: drops exactly those, keeps the rest, verifies, writers open again",
          .tags(.hardening))
    func repairCutShard() throws {
        let fixture = try Fixture()
        let layout = fixture.scratch.layout
        try flipByte(layout.shardPath(1), at: fixture.locations[2].offset + ShardFormat.recordHeaderSize + 5)
        let file = try SystemFile(path: layout.shardPath(1), mode: .readWrite)
        try file.truncate(to: fixture.locations[8].offset + 20)
        #expect(throws: StoreError.self, "a cut open shard still stops an ordinary writer") { try fixture.scratch.makeWriter() }

        let dry = try StoreRepair.run(try fixture.scratch.reopen(), dryRun: true)
        #expect(dry.dryRun && !dry.ok)
        #expect(Set(dry.lostBlobs.map(\.digest)) == Set([2, 8, 9, 10, 11].map { fixture.blobs[$0].digest.hex }))
        #expect(try Verifier.run(try fixture.scratch.reopen()).problems.count == 6, "a dry run changes nothing")

        let report = try StoreRepair.run(try fixture.scratch.reopen(.readWrite), dryRun: false)
        #expect(report.ok && report.rewrittenShards == ["000001.loom"], "\(report)")
        #expect(Set(report.realImages.map(\.path)) == Set([2, 8, 9, 10, 11].map(imagePath)))
        let after = try fixture.scratch.reopen()
        let verified = try Verifier.run(after)
        #expect(verified.ok && verified.records == 7, "\(verified.problems.map(\.reason))")
        for index in [0, 1, 3, 4, 5, 6, 7] { #expect(try after.blobs.read(digest: fixture.blobs[index].digest) == fixture.blobs[index].bytes) }
        #expect(try after.blobs.location(of: fixture.blobs[8].digest) == nil)
        _ = try fixture.scratch.makeWriter()
    }

    @Test("repair rebuilds an index that disagrees with its table", .tags(.hardening))
    func repairReindexes() throws {
        let fixture = try Fixture()
        let queue = try DatabaseQueue(path: fixture.scratch.layout.catalogPath)
        try queue.writeWithoutTransaction { db in
            try db.execute(sql: "PRAGMA writable_schema = ON")
            try db.execute(sql: """
                UPDATE sqlite_master SET sql = 'CREATE INDEX real_images_by_blob ON real_images(class_id)'
                WHERE name = 'real_images_by_blob'
                """)
            try db.execute(sql: "PRAGMA writable_schema = OFF")
        }
        try queue.close()
        let report = try StoreRepair.run(try fixture.scratch.reopen(.readWrite), dryRun: false)
        #expect(report.reindexed && report.ok && report.catalog == "ok" && report.lostBlobs.isEmpty, "\(report)")
    }
}
