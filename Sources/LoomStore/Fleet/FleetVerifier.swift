/// `loom verify` on a fleet store: every shard object the catalog names is fetched (through the
/// cache) and checked whole: header, index and trailer, and every record a row points at, down to
/// the SHA-256 of its bytes. The catalog itself is PostgreSQL's to keep consistent (constraints,
/// WAL); its `catalog` field says "ok" when every row could be read.
enum FleetVerifier {
    static func run(_ store: Store, fleet: FleetBackends, progress: (_ done: Int, _ total: Int) -> Void) throws -> VerifyReport {
        let shards = try PostgresShardListing.shards(fleet.catalog)
        let total = shards.reduce(0) { $0 + $1.blobs.count }
        var report = VerifyReport(ok: true, catalog: "ok", shards: shards.count, records: 0, bytes: 0, problems: [])
        var buffer: [UInt8] = []
        for shard in shards {
            let object = fleet.shards.url(of: shard.name)
            if let problem = shardProblem(shard, fleet: fleet) {
                report.problems.append(VerifyReport.Problem(
                    shard: object, offset: nil, digest: nil, reason: problem,
                    rows: try PostgresShardListing.realImages(fleet.catalog, blobIDs: shard.blobs.map(\.id))))
                report.records += shard.blobs.count
                progress(report.records, total)
                continue
            }
            for blob in shard.blobs {
                do {
                    _ = try store.blobs.read(blob.location, into: &buffer, verifyDigest: true)
                    report.bytes += blob.location.recordSize
                } catch let error as StoreError where error.code == .corrupt {
                    report.problems.append(VerifyReport.Problem(
                        shard: object, offset: blob.location.offset, digest: blob.location.digest.hex, reason: error.message,
                        rows: try PostgresShardListing.realImages(fleet.catalog, blobIDs: [blob.id])))
                }
                report.records += 1
                if report.records % 256 == 0 { progress(report.records, total) }
            }
        }
        progress(report.records, total)
        report.ok = report.problems.isEmpty
        return report
    }

    /// What is wrong with the shard object as a whole (gone, wrong length, bad header or
    /// trailer), or nil. Reads only the header and the trailer (plus one byte past the sealed
    /// length, which must not be there); the records are read one by one afterwards.
    private static func shardProblem(_ shard: PostgresShardListing.Shard, fleet: FleetBackends) -> String? {
        guard let sealed = shard.sealedBytes else {
            return shard.blobs.isEmpty ? nil : "the catalog has blobs in a shard that was never sealed"
        }
        guard sealed >= ShardFormat.fileHeaderSize + ShardFormat.trailerSize else {
            return "the catalog sealed it at \(sealed) bytes, too short for a shard"
        }
        let header: [UInt8], tail: [UInt8]
        do {
            header = try fleet.shards.read(shard.name, range: 0..<Int64(ShardFormat.fileHeaderSize))
            tail = try fleet.shards.read(shard.name, range: Int64(sealed - ShardFormat.trailerSize)..<Int64(sealed) + 1)
        } catch {
            return "cannot read the shard object: \(error)"
        }
        guard tail.count == ShardFormat.trailerSize else {
            return tail.count > ShardFormat.trailerSize
                ? "the object is longer than the \(sealed) bytes the catalog sealed"
                : "the object is shorter than the \(sealed) bytes the catalog sealed"
        }
        switch ShardFormat.decodeFileHeader(header) {
        case .failure(let problem): return "file header: \(problem)"
        case .success(let id) where id != shard.id: return "the object's header names shard \(id), the catalog \(shard.id)"
        case .success: break
        }
        if case .failure(let problem) = ShardFormat.decodeTrailer(tail) {
            return "index trailer: \(problem)"
        }
        return nil
    }
}
