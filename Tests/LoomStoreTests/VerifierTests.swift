import Foundation
import GRDB
@testable import LoomStore
import LoomTestSupport
import Testing

@Suite("Verifier")
struct VerifierTests {
    enum Damage: String, CaseIterable, CustomTestStringConvertible {
        case recordPayload, recordHeader, openShardPayload, sealedIndex, sealedTrailer, missingShard, truncatedOpenShard
        var testDescription: String { rawValue }
    }

    /// 30 blobs, one real image each, over several sealed shards and one open shard.
    struct Fixture {
        let scratch: ScratchStore
        let blobs: [TestBlob]
        let locations: [Digest: BlobLocation]
        let shards: [ShardRow]

        init() throws {
            let scratch = try ScratchStore()
            let blobs = (0..<30).map { TestBlob.random(1000 + $0, seed: 300 + UInt64($0), mediaType: "image/jpeg") }
            self.scratch = scratch
            self.blobs = blobs
            let writer = try scratch.makeWriter(targetShardBytes: 8 << 10)
            for batch in stride(from: 0, to: blobs.count, by: 4) {
                let range = batch..<min(batch + 4, blobs.count)
                try writer.stage(Array(blobs[range]))
                try writer.commit { db, ids in
                    try insertRealImages(db, try range.map { (try #require(ids[blobs[$0].digest]), imagePath($0)) })
                }
            }
            // Batches of 4 blobs (~4.3 KiB) seal a shard every second commit and leave the last
            // six blobs in the open shard.
            let store = scratch.store
            locations = Dictionary(uniqueKeysWithValues: try blobs.map { ($0.digest, try #require(try store.blobs.location(of: $0.digest))) })
            shards = try shardRows(store)
        }

        func index(inShard id: Int64) -> [Int] {
            blobs.indices.filter { locations[blobs[$0].digest]?.shardID == id }
        }

        func rows(_ indices: [Int]) -> [VerifyReport.AffectedRow] {
            indices.map { VerifyReport.AffectedRow(dataset: "ds", split: "train", path: imagePath($0)) }
        }
    }

    @Test("an intact store verifies")
    func intact() throws {
        let fixture = try Fixture()
        #expect(fixture.shards.count >= 3)
        #expect(fixture.shards.dropLast().allSatisfy { $0.sealedBytes != nil })
        #expect(fixture.shards.last?.sealedBytes == nil)
        var progressCalls = 0
        let report = try Verifier.run(try fixture.scratch.reopen()) { done, total in
            progressCalls += 1
            #expect(done <= total && total == 30)
        }
        #expect(report.ok)
        #expect(report.catalog == "ok")
        #expect(report.problems.isEmpty)
        #expect(report.shards == fixture.shards.count)
        #expect(report.records == 30)
        #expect(report.bytes == fixture.locations.values.reduce(0) { $0 + $1.recordSize })
        #expect(progressCalls > 0)
    }

    @Test("damage is reported with its shard, digest and affected rows", arguments: Damage.allCases)
    func damaged(_ damage: Damage) throws {
        let fixture = try Fixture()
        let layout = fixture.scratch.layout
        let sealed = try #require(fixture.shards.first { $0.sealedBytes != nil })
        let open = try #require(fixture.shards.last)
        #expect(open.sealedBytes == nil)
        let sealedBlob = try #require(fixture.index(inShard: sealed.id).dropFirst().first)
        let openBlob = try #require(fixture.index(inShard: open.id).last)

        // What the damage is, and the one problem it must give.
        var restore: (() throws -> Void)? = nil
        let shard: ShardRow
        let blob: Int?
        switch damage {
        case .recordPayload, .recordHeader, .openShardPayload:
            blob = damage == .openShardPayload ? openBlob : sealedBlob
            let location = try #require(fixture.locations[fixture.blobs[blob!].digest])
            shard = try #require(fixture.shards.first { $0.id == location.shardID })
            let offset = damage == .recordHeader
                ? location.offset + 9  // inside stored_size
                : location.offset + ShardFormat.recordHeaderSize + location.storedSize / 2
            try flipByte(layout.shardPath(shard.id), at: offset)
            restore = { try flipByte(layout.shardPath(shard.id), at: offset) }
        case .sealedIndex:
            blob = nil
            shard = sealed
            let offset = sealed.committedBytes + ShardFormat.indexEntrySize + 3
            try flipByte(layout.shardPath(shard.id), at: offset)
            restore = { try flipByte(layout.shardPath(shard.id), at: offset) }
        case .sealedTrailer:
            blob = nil
            shard = sealed
            let offset = try #require(sealed.sealedBytes) - ShardFormat.trailerSize + 9
            try flipByte(layout.shardPath(shard.id), at: offset)
            restore = { try flipByte(layout.shardPath(shard.id), at: offset) }
        case .missingShard:
            blob = nil
            shard = sealed
            try FileManager.default.removeItem(atPath: layout.shardPath(shard.id))
        case .truncatedOpenShard:
            // The cut takes the last record's final byte: that record is the problem (the
            // shard's own "shorter than committed" problem names no rows).
            blob = openBlob
            shard = open
            let file = try SystemFile(path: layout.shardPath(open.id), mode: .readWrite)
            try file.truncate(to: open.committedBytes - 1)
        }

        // A fresh store, as `loom verify` opens one (no shard descriptors cached from before).
        let report = try Verifier.run(try fixture.scratch.reopen())
        #expect(!report.ok, "\(damage) went unnoticed")
        #expect(report.catalog == "ok")
        let shardProblems = damage == .truncatedOpenShard ? report.problems.filter { $0.digest == nil } : []
        #expect(shardProblems.allSatisfy { $0.shard == shard.name && $0.rows.isEmpty })
        #expect(report.problems.count == 1 + shardProblems.count, "\(report.problems.map(\.reason))")
        let problem = try #require(report.problems.first { damage != .truncatedOpenShard || $0.digest != nil })
        #expect(problem.shard == shard.name)
        if let blob {
            let location = try #require(fixture.locations[fixture.blobs[blob].digest])
            #expect(problem.digest == fixture.blobs[blob].digest.hex)
            #expect(problem.offset == location.offset)
            #expect(problem.rows == fixture.rows([blob]))
            // Reading the blob fails the same way.
            let error = #expect(throws: StoreError.self) { try fixture.scratch.reopen().blobs.read(digest: fixture.blobs[blob].digest) }
            #expect(error?.code == .corrupt)
        } else {
            // A broken shard: every row whose bytes are in it is affected.
            #expect(problem.digest == nil)
            #expect(problem.rows == fixture.rows(fixture.index(inShard: shard.id)))
            #expect(!problem.rows.isEmpty)
        }
        // Records in other shards were still checked.
        #expect(report.records == 30)
        #expect(report.bytes > 0)

        if let restore {
            try restore()
            let again = try Verifier.run(try fixture.scratch.reopen())
            #expect(again.ok, "after undoing \(damage): \(again.problems.map(\.reason))")
        }
    }

    @Test("a record pointing at another blob's bytes is caught")
    func swappedRows() throws {
        let fixture = try Fixture()
        let a = fixture.blobs[0].digest, b = fixture.blobs[1].digest
        let lb = try #require(fixture.locations[b])
        // Point blob 0's row at blob 1's record (same sizes are not needed: the digest check comes first).
        try fixture.scratch.store.catalog.write { db in
            try db.execute(sql: "UPDATE blobs SET offset = ?, stored_size = ?, raw_size = ? WHERE digest = ?",
                           arguments: [lb.offset, lb.storedSize, lb.rawSize, a.databaseValue])
        }
        let report = try Verifier.run(try fixture.scratch.reopen())
        #expect(!report.ok)
        #expect(report.problems.count == 1)
        #expect(report.problems.first?.digest == a.hex)
        #expect(report.problems.first?.rows == fixture.rows([0]))
    }
}
