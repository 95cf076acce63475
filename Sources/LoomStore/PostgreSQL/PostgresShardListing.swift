internal import NIOCore
internal import PostgresNIO

/// What `loom verify` and `loom gc` read of a fleet catalog: its shards and the blobs in each.
enum PostgresShardListing {
    struct Shard {
        var id: Int64
        var name: String
        var sealedBytes: Int?
        var blobs: [(id: Int64, location: BlobLocation)]
    }

    /// Every shard with its blobs in offset order, from one snapshot.
    static func shards(_ catalog: PostgresCatalog) throws -> [Shard] {
        try catalog.connections.transaction(PostgresCatalog.snapshotBegin) { session in
            var shards: [Int64: Shard] = [:]
            for row in try session.rows("SELECT id, name, sealed_bytes FROM shards ORDER BY id") {
                let id: Int64 = try row.value("id")
                shards[id] = Shard(id: id, name: try row.value("name"), sealedBytes: try row.value("sealed_bytes", Int?.self), blobs: [])
            }
            try session.forEachRow("""
                SELECT b.id, \(unescaped: PostgresBlobReader.columns) FROM blobs b ORDER BY b.shard_id, b."offset"
                """) { row in
                let location = try PostgresBlobReader.location(row)
                shards[location.shardID]?.blobs.append((try row.value("id"), location))
            }
            return shards.values.sorted { $0.id < $1.id }
        }
    }

    /// The real images whose bytes are `blobIDs`, for a problem's report.
    static func realImages(_ catalog: PostgresCatalog, blobIDs: [Int64]) throws -> [VerifyReport.AffectedRow] {
        guard !blobIDs.isEmpty else { return [] }
        return try catalog.connections.transaction(PostgresCatalog.snapshotBegin) { session in
            try session.rows("""
                SELECT d.name AS dataset, s.name AS split, r.path FROM real_images r
                JOIN splits s ON s.id = r.split_id JOIN datasets d ON d.id = s.dataset_id
                WHERE r.blob_id = ANY(\(blobIDs)::bigint[])
                ORDER BY d.name COLLATE "C", s.name COLLATE "C", r.path COLLATE "C"
                """).map { VerifyReport.AffectedRow(dataset: try $0.value("dataset"), split: try $0.value("split"), path: try $0.value("path")) }
        }
    }
}
