import Foundation
import GRDB
@testable import LoomStore
import LoomTestSupport
import Testing

@Suite("StoreWriter")
struct StoreWriterTests {
    /// Blobs of awkward sizes and kinds, each with the codec `.auto` must choose.
    static func mixedBlobs() -> [(blob: TestBlob, codec: ShardFormat.Codec)] {
        [
            (.random(0, seed: 1), .raw),
            (.random(1, seed: 2), .raw),
            (.random(2, seed: 3), .raw),
            (.random(63, seed: 4), .raw),
            (.random(4096, seed: 5), .raw),
            (.random(65_537, seed: 6), .raw),
            (.random(3_000_000, seed: 7), .raw),
            (.compressible(200_000, seed: 8), .lz4),
            (.compressible(5_000, seed: 9), .lz4),
            // Compressible bytes, but JPEG is never tried: stays raw.
            (.compressible(50_000, seed: 10, mediaType: "image/jpeg"), .raw),
            (.compressible(50_000, seed: 11, mediaType: "image/png"), .raw),
        ]
    }

    @Test("staged and committed blobs read back byte-exact, here and from a fresh read-only store",
          arguments: [8 << 20, 1])
    func roundTrip(writeBufferBytes: Int) throws {
        let scratch = try ScratchStore()
        let writer = try scratch.makeWriter(writeBufferBytes: writeBufferBytes)
        let cases = Self.mixedBlobs()
        #expect(Set(cases.map(\.blob.digest)).count == cases.count, "test blobs must be distinct")

        // Two commits, so the second appends after committed records.
        let first = try writer.stage(cases.prefix(6).map(\.blob))
        let firstIDs = try writer.commit { _, ids in ids }
        let second = try writer.stage(cases.dropFirst(6).map(\.blob))
        let secondIDs = try writer.commit { _, ids in ids }
        let staged = first.merging(second) { a, _ in a }
        #expect(Set(firstIDs.keys) == Set(cases.prefix(6).map(\.blob.digest)))
        #expect(Set(secondIDs.keys) == Set(cases.dropFirst(6).map(\.blob.digest)))
        #expect(Set(firstIDs.values).isDisjoint(with: secondIDs.values))
        #expect(writer.pendingBytes == 0)

        for (blob, codec) in cases {
            let location = try #require(staged[blob.digest])
            #expect(location.codec == codec, "\(blob.testDescription)")
            #expect(location.rawSize == blob.bytes.count)
            if codec == .lz4 {
                #expect(location.storedSize < location.rawSize, "lz4 kept although it does not shrink \(blob.testDescription)")
            } else {
                #expect(location.storedSize == location.rawSize)
            }
            // The catalog row says the same as the staged location.
            #expect(try scratch.store.blobs.location(of: blob.digest) == location)
            #expect(try scratch.store.blobs.read(digest: blob.digest) == blob.bytes, "\(blob.testDescription)")
        }

        // Records lie back to back after the file header, and the shard's committed length ends the last.
        let sorted = staged.values.sorted { $0.offset < $1.offset }
        #expect(sorted.first?.offset == ShardFormat.fileHeaderSize)
        for (a, b) in zip(sorted, sorted.dropFirst()) { #expect(a.offset + a.recordSize == b.offset) }
        let shards = try shardRows(scratch.store)
        #expect(shards.count == 1)
        #expect(shards.first?.committedBytes == sorted.last.map { $0.offset + $0.recordSize })
        #expect(try fileSize(scratch.layout.shardPath(writer.currentShardID)) == shards.first?.committedBytes)

        let mediaTypes = try scratch.store.catalog.read { db in
            try Row.fetchAll(db, sql: "SELECT digest, media_type, codec FROM blobs").map {
                ($0["digest"] as Digest, $0["media_type"] as String, $0["codec"] as String)
            }
        }
        #expect(mediaTypes.count == cases.count)
        for (digest, mediaType, codec) in mediaTypes {
            let expected = try #require(cases.first { $0.blob.digest == digest })
            #expect(mediaType == expected.blob.mediaType)
            #expect(codec == expected.codec.name)
        }

        let reader = try scratch.reopen(.readOnly)
        for (blob, _) in cases {
            #expect(try reader.blobs.read(digest: blob.digest) == blob.bytes, "fresh store: \(blob.testDescription)")
        }
        let missing = Digest.sha256(Array("never stored".utf8))
        let error = #expect(throws: StoreError.self) { try reader.blobs.read(digest: missing) }
        #expect(error?.code == .notFound)
    }

    @Test("forced policies: lz4 on tiny and random blobs, raw on compressible ones")
    func forcedPolicies() throws {
        let scratch = try ScratchStore()
        let writer = try scratch.makeWriter()
        let lz4 = [TestBlob.random(0, seed: 20), .random(1, seed: 21), .random(1000, seed: 22), .compressible(3000, seed: 23)]
        let raw = [TestBlob.compressible(3000, seed: 24), .random(10, seed: 25)]
        let lz4Locations = try writer.stage(lz4, policy: .lz4)
        let rawLocations = try writer.stage(raw, policy: .raw)
        try writer.commit { _, _ in }
        for blob in lz4 {
            #expect(lz4Locations[blob.digest]?.codec == .lz4)
            #expect(try scratch.store.blobs.read(digest: blob.digest) == blob.bytes, "lz4 \(blob.testDescription)")
        }
        for blob in raw {
            #expect(rawLocations[blob.digest]?.codec == .raw)
            #expect(rawLocations[blob.digest]?.storedSize == blob.bytes.count)
            #expect(try scratch.store.blobs.read(digest: blob.digest) == blob.bytes, "raw \(blob.testDescription)")
        }
        #expect(try Verifier.run(try scratch.reopen()).ok)
    }

    @Test("the same digest staged twice in one batch is stored once; committed blobs are found by digest")
    func dedup() throws {
        let scratch = try ScratchStore()
        let writer = try scratch.makeWriter()
        let a = TestBlob.random(1000, seed: 30), b = TestBlob.random(2000, seed: 31), c = TestBlob.random(10, seed: 32)

        let firstA = try writer.stage([a])[a.digest]
        let pendingAfterA = writer.pendingBytes
        let secondA = try writer.stage([a])[a.digest]
        #expect(firstA == secondA)
        #expect(writer.pendingBytes == pendingAfterA, "a second staging of the same digest wrote bytes")
        try writer.stage([b, a])
        let ids = try writer.commit { _, ids in ids }
        #expect(ids.count == 2)
        #expect(try count(scratch.store, "SELECT count(*) FROM blobs") == 2)
        let shard = try #require(try shardRows(scratch.store).first)
        #expect(shard.committedBytes == ShardFormat.fileHeaderSize + 2 * ShardFormat.recordHeaderSize + 3000)

        let found = try writer.committedBlobIDs([a.digest, b.digest, c.digest])
        #expect(found == [a.digest: try #require(ids[a.digest]), b.digest: try #require(ids[b.digest])])
        #expect(try writer.committedBlobIDs([c.digest]).isEmpty)

        // A later commit that skips what is already there adds only the new blob.
        let toStage = [a, b, c].filter { found[$0.digest] == nil }
        #expect(toStage.map(\.digest) == [c.digest])
        try writer.stage(toStage)
        let later = try writer.commit { _, ids in ids }
        #expect(Array(later.keys) == [c.digest])
        #expect(try count(scratch.store, "SELECT count(*) FROM blobs") == 3)
        for blob in [a, b, c] { #expect(try scratch.store.blobs.read(digest: blob.digest) == blob.bytes) }
    }

    @Test("a commit whose body throws rolls back its rows and cuts the shard back", arguments: [8 << 20, 1])
    func commitFailureRollsBack(writeBufferBytes: Int) throws {
        let scratch = try ScratchStore()
        let writer = try scratch.makeWriter(writeBufferBytes: writeBufferBytes)
        let kept = TestBlob.random(500, seed: 40)
        try writer.stage([kept])
        try writer.commit { _, _ in }
        let shardPath = scratch.layout.shardPath(writer.currentShardID)
        let committed = try #require(try shardRows(scratch.store).first).committedBytes
        #expect(try fileSize(shardPath) == committed)

        let doomed = [TestBlob.random(700, seed: 41), .compressible(20_000, seed: 42), .random(0, seed: 43)]
        try writer.stage(doomed)
        #expect(writer.pendingBytes > 0)
        if writeBufferBytes == 1 {
            // Every record went to the file at once: the rollback must cut it off again.
            #expect(try fileSize(shardPath) > committed)
        }
        #expect(throws: InjectedFailure.self) {
            try writer.commit { db, ids in
                #expect(ids.count == doomed.count)
                try insertRealImages(db, [(try #require(ids[doomed[0].digest]), imagePath(0))])
                throw InjectedFailure()
            }
        }
        #expect(try count(scratch.store, "SELECT count(*) FROM blobs") == 1)
        #expect(try count(scratch.store, "SELECT count(*) FROM datasets") == 0)
        #expect(try count(scratch.store, "SELECT count(*) FROM real_images") == 0)
        #expect(try shardRows(scratch.store).first?.committedBytes == committed)
        #expect(try fileSize(shardPath) == committed)
        #expect(writer.pendingBytes == 0)
        for blob in doomed {
            let error = #expect(throws: StoreError.self) { try scratch.store.blobs.read(digest: blob.digest) }
            #expect(error?.code == .notFound)
        }

        // A failing SQL statement inside the body rolls back the same way.
        try writer.stage([doomed[0]])
        #expect(throws: DatabaseError.self) {
            try writer.commit { db, _ in try db.execute(sql: "INSERT INTO no_such_table VALUES (1)") }
        }
        #expect(try fileSize(shardPath) == committed)
        #expect(try count(scratch.store, "SELECT count(*) FROM blobs") == 1)

        // The writer is still usable: the same blobs commit now, right after the kept one.
        let locations = try writer.stage(doomed)
        #expect(locations.values.map(\.offset).min() == committed)
        try writer.commit { db, ids in try insertRealImages(db, [(try #require(ids[doomed[0].digest]), imagePath(0))]) }
        #expect(try count(scratch.store, "SELECT count(*) FROM blobs") == 4)
        #expect(try count(scratch.store, "SELECT count(*) FROM real_images") == 1)
        for blob in doomed + [kept] { #expect(try scratch.store.blobs.read(digest: blob.digest) == blob.bytes) }
        let report = try Verifier.run(try scratch.reopen())
        #expect(report.ok, "\(report.problems.map(\.reason))")
        #expect(report.records == 4)
    }

    @Test("small target shards roll over; sealed shards carry a valid index and trailer")
    func rolloverAndSeal() throws {
        let scratch = try ScratchStore()
        let target = 16 << 10
        let writer = try scratch.makeWriter(targetShardBytes: target)
        let blobs = (0..<60).map { TestBlob.random(1000 + 37 * $0, seed: 100 + UInt64($0)) }
        for batch in stride(from: 0, to: blobs.count, by: 3) {
            try writer.stage(Array(blobs[batch..<min(batch + 3, blobs.count)]))
            try writer.commit { _, _ in }
        }
        let shards = try shardRows(scratch.store)
        #expect(shards.count >= 4, "expected several shards, got \(shards.count)")
        #expect(shards.last?.id == writer.currentShardID)
        #expect(shards.last?.sealedBytes == nil, "the newest shard stays open")
        #expect(try fileSize(scratch.layout.shardPath(writer.currentShardID)) == shards.last?.committedBytes)

        let locations = try scratch.store.catalog.read { db in
            try Row.fetchAll(db, sql: "SELECT \(BlobLocation.columns) FROM blobs ORDER BY shard_id, offset").map(BlobLocation.init(row:))
        }
        #expect(locations.count == blobs.count)
        for shard in shards.dropLast() {
            let sealed = try #require(shard.sealedBytes, "shard \(shard.name) is not sealed")
            #expect(shard.committedBytes >= target)
            let path = scratch.layout.shardPath(shard.id)
            #expect(try fileSize(path) == sealed)
            let file = try SystemFile(path: path, mode: .readOnly)
            guard case .success(let headerID) = ShardFormat.decodeFileHeader(try file.read(count: ShardFormat.fileHeaderSize, at: 0)) else {
                Issue.record("shard \(shard.name): bad file header")
                continue
            }
            #expect(headerID == shard.id)
            let trailerBytes = try file.read(count: ShardFormat.trailerSize, at: sealed - ShardFormat.trailerSize)
            guard case .success(let trailer) = ShardFormat.decodeTrailer(trailerBytes) else {
                Issue.record("shard \(shard.name): bad trailer")
                continue
            }
            let records = locations.filter { $0.shardID == shard.id }
            #expect(trailer.indexOffset == shard.committedBytes)
            #expect(trailer.count == records.count)
            #expect(trailer.indexOffset + trailer.count * ShardFormat.indexEntrySize + ShardFormat.trailerSize == sealed)
            let index = try file.read(count: trailer.count * ShardFormat.indexEntrySize, at: trailer.indexOffset)
            #expect(index.withUnsafeBytes { CRC32.checksum($0) } == trailer.indexCRC)
            let entries = (0..<trailer.count).map { i -> (Digest, Int) in
                let entry = Array(index[(i * ShardFormat.indexEntrySize)..<((i + 1) * ShardFormat.indexEntrySize)])
                return (Digest(raw: entry[0..<32])!, Int(entry.readLE(UInt64.self, at: 32)))
            }
            #expect(entries.map(\.0) == records.map(\.digest), "index digests of \(shard.name)")
            #expect(entries.map(\.1) == records.map(\.offset), "index offsets of \(shard.name)")
        }

        let report = try Verifier.run(try scratch.reopen())
        #expect(report.ok, "\(report.problems.map(\.reason))")
        #expect(report.shards == shards.count)
        #expect(report.records == blobs.count)
        let reader = try scratch.reopen()
        for blob in blobs {
            #expect(try scratch.store.blobs.read(digest: blob.digest) == blob.bytes)
            #expect(try reader.blobs.read(digest: blob.digest) == blob.bytes)
        }

        // A new writer appends to the open shard rather than starting another.
        let openShard = writer.currentShardID
        let writerShards = shards.count
        _ = consume writer
        let next = try scratch.makeWriter(targetShardBytes: target)
        #expect(next.currentShardID == openShard)
        #expect(try shardRows(scratch.store).count == writerShards)
    }
}
