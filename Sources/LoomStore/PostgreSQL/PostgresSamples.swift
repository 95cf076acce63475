internal import NIOCore
internal import PostgresNIO

/// The loader's sample query, streamed through a cursor a page at a time and read by column
/// position (the same shape as the SQLite one in SQLiteSamples.swift).
struct PostgresSampleReader: SampleReading, PostgresRepository {
    let session: PostgresSession

    private static let columns = """
        b.digest, b.shard_id, b."offset", b.stored_size, b.raw_size, b.codec, c.label,
        cb.digest, cb.shard_id, cb."offset", cb.stored_size, cb.raw_size, cb.codec, pc.width, pc.height
        """
    private static func joins(classColumn: String) -> String {
        """
        JOIN blobs b ON b.id = r.blob_id
        JOIN classes c ON c.id = \(classColumn)
        LEFT JOIN pixel_cache pc ON pc.blob_id = r.blob_id AND pc.short_side = $1
        LEFT JOIN blobs cb ON cb.id = pc.cache_blob_id
        """
    }
    private static let realSQL = """
        SELECT r.blob_id, r.class_id, \(columns)
        FROM real_images r
        \(joins(classColumn: "r.class_id"))
        WHERE r.split_id = $2
        ORDER BY r.path COLLATE "C"
        """
    private static let syntheticSQL = """
        SELECT r.blob_id, p.class_id, \(columns)
        FROM synthetic_images r
        JOIN prompts p ON p.id = r.prompt_id
        \(joins(classColumn: "p.class_id"))
        WHERE p.dataset_id = $2 AND p.strategy = $3
        ORDER BY r.id
        """

    func forEachSample(_ source: SampleSource, cacheShortSide: Int?, _ body: (SampleRecord) throws -> Void) throws {
        var binds = PostgresBindings()
        binds.append(cacheShortSide ?? -1)
        let sql: String
        switch source {
        case .real(let splitID):
            sql = Self.realSQL
            binds.append(splitID)
        case .synthetic(let datasetID, let strategy):
            sql = Self.syntheticSQL
            binds.append(datasetID)
            binds.append(strategy)
        }
        try session.forEachRow(PostgresQuery(unsafeSQL: sql, binds: binds), pageSize: 10_000) { row in
            var cached: CachedPixelsRecord?
            if let digest = try row.digest(9), let codec = ShardFormat.Codec(name: try row.value(14, String.self)) {
                cached = CachedPixelsRecord(
                    location: BlobLocation(digest: digest, shardID: try row.value(10), offset: try row.value(11),
                                           storedSize: try row.value(12), rawSize: try row.value(13), codec: codec),
                    width: try row.value(15), height: try row.value(16))
            }
            guard let digest = try row.digest(2) else { throw StoreError(.corrupt, "blob row has a malformed digest") }
            let codecName: String = try row.value(7)
            guard let codec = ShardFormat.Codec(name: codecName) else {
                throw StoreError(.corrupt, "blob \(digest) has unknown codec \(codecName)")
            }
            let location = BlobLocation(digest: digest, shardID: try row.value(3), offset: try row.value(4),
                                        storedSize: try row.value(5), rawSize: try row.value(6), codec: codec)
            try body(SampleRecord(blobID: try row.value(0), classID: try row.value(1), label: try row.value(8),
                                  location: location, cached: cached))
        }
    }
}
