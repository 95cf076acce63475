internal import GRDB

/// The loader's sample query. Columns are read by position, and each source shape is one cached
/// statement, so a call over a million rows costs one prepare and no per-row lookup by name.
struct SQLiteSampleReader: SampleReading, SQLiteRepository {
    let db: Database

    private static let columns = """
        b.digest, b.shard_id, b.offset, b.stored_size, b.raw_size, b.codec, c.label,
        cb.digest, cb.shard_id, cb.offset, cb.stored_size, cb.raw_size, cb.codec, pc.width, pc.height
        """
    private static func joins(classColumn: String) -> String {
        """
        JOIN blobs b ON b.id = r.blob_id
        JOIN classes c ON c.id = \(classColumn)
        LEFT JOIN pixel_cache pc ON pc.blob_id = r.blob_id AND pc.short_side = ?
        LEFT JOIN blobs cb ON cb.id = pc.cache_blob_id
        """
    }
    private static let realSQL = """
        SELECT r.blob_id, r.class_id, \(columns)
        FROM real_images r
        \(joins(classColumn: "r.class_id"))
        WHERE r.split_id = ?
        ORDER BY r.path
        """
    private static let syntheticSQL = """
        SELECT r.blob_id, p.class_id, \(columns)
        FROM synthetic_images r
        JOIN prompts p ON p.id = r.prompt_id
        \(joins(classColumn: "p.class_id"))
        WHERE p.dataset_id = ? AND p.strategy = ?
        ORDER BY r.id
        """

    func forEachSample(_ source: SampleSource, cacheShortSide: Int?, _ body: (SampleRecord) throws -> Void) throws {
        let rows: RowCursor
        switch source {
        case .real(let splitID):
            rows = try Row.fetchCursor(db.cachedStatement(sql: Self.realSQL), arguments: [cacheShortSide ?? -1, splitID])
        case .synthetic(let datasetID, let strategy):
            rows = try Row.fetchCursor(db.cachedStatement(sql: Self.syntheticSQL),
                                       arguments: [cacheShortSide ?? -1, datasetID, strategy])
        }
        while let row = try rows.next() {
            var cached: CachedPixelsRecord?
            if let digest = row[9] as Digest?, let codec = ShardFormat.Codec(name: row[14]) {
                cached = CachedPixelsRecord(
                    location: BlobLocation(digest: digest, shardID: row[10], offset: row[11], storedSize: row[12],
                                           rawSize: row[13], codec: codec),
                    width: row[15], height: row[16])
            }
            try body(SampleRecord(blobID: row[0], classID: row[1], label: row[8], location: try Self.location(row), cached: cached))
        }
    }

    /// The sample's own blob, columns 2...7; the same checks as ``BlobLocation/init(row:)``.
    private static func location(_ row: Row) throws -> BlobLocation {
        guard let digest = row[2] as Digest? else { throw StoreError(.corrupt, "blob row has a malformed digest") }
        guard let codec = ShardFormat.Codec(name: row[7]) else {
            throw StoreError(.corrupt, "blob \(digest) has unknown codec \(String(describing: row[7] as String?))")
        }
        return BlobLocation(digest: digest, shardID: row[3], offset: row[4], storedSize: row[5], rawSize: row[6], codec: codec)
    }
}
