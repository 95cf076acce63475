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
}
