internal import GRDB

/// The loader's sample query. Columns are read by position, and each source shape is one cached
/// statement, so a call over a million rows costs one prepare and no per-row lookup by name.
struct SQLiteSampleReader: SampleReading, SQLiteRepository {
    let db: Database

    /// Columns 0...7: the row's blob and class ids, then the blob's location. With the cache,
    /// 8...15: the cache image's location and size (NULL where it has none).
    private static let columns = "b.digest, b.shard_id, b.offset, b.stored_size, b.raw_size, b.codec"
    private static let cacheColumns = "cb.digest, cb.shard_id, cb.offset, cb.stored_size, cb.raw_size, cb.codec, pc.width, pc.height"
    private static let cacheJoins = """
        LEFT JOIN pixel_cache pc ON pc.blob_id = r.blob_id AND pc.short_side = ?
        LEFT JOIN blobs cb ON cb.id = pc.cache_blob_id
        """
    private static func realSQL(cache: Bool) -> String {
        """
        SELECT r.blob_id, r.class_id, \(columns)\(cache ? ", " + cacheColumns : "")
        FROM real_images r
        JOIN blobs b ON b.id = r.blob_id
        \(cache ? cacheJoins : "")
        WHERE r.split_id = ?
        ORDER BY r.path
        """
    }
    private static func syntheticSQL(cache: Bool) -> String {
        """
        SELECT r.blob_id, p.class_id, \(columns)\(cache ? ", " + cacheColumns : "")
        FROM synthetic_images r
        JOIN prompts p ON p.id = r.prompt_id
        JOIN blobs b ON b.id = r.blob_id
        \(cache ? cacheJoins : "")
        WHERE p.dataset_id = ? AND p.strategy = ?
        ORDER BY r.id
        """
    }
    private static let sql = (real: (plain: realSQL(cache: false), cached: realSQL(cache: true)),
                              synthetic: (plain: syntheticSQL(cache: false), cached: syntheticSQL(cache: true)))

    func forEachSample(_ source: SampleSource, cacheShortSide: Int?, _ body: (SampleRecord) throws -> Void) throws {
        // Most catalogs have no pixel cache at this side: then its two joins are left out, and
        // labels come from a map of the (few) classes rather than a join per row. Together those
        // joins were half the query's time over a million rows.
        let withCache = try cacheShortSide.map { side in
            try Bool.fetchOne(db, sql: "SELECT EXISTS (SELECT 1 FROM pixel_cache WHERE short_side = ?)", arguments: [side]) ?? false
        } ?? false
        var labels: [Int64: Int] = [:]
        let classRows = try Row.fetchCursor(db, sql: "SELECT id, label FROM classes")
        while let row = try classRows.next() { labels[row[0]] = row[1] }
        let cacheArguments: StatementArguments = withCache ? [cacheShortSide ?? 0] : []
        let rows: RowCursor
        switch source {
        case .real(let splitID):
            rows = try Row.fetchCursor(db.cachedStatement(sql: withCache ? Self.sql.real.cached : Self.sql.real.plain),
                                       arguments: cacheArguments + [splitID])
        case .synthetic(let datasetID, let strategy):
            rows = try Row.fetchCursor(db.cachedStatement(sql: withCache ? Self.sql.synthetic.cached : Self.sql.synthetic.plain),
                                       arguments: cacheArguments + [datasetID, strategy])
        }
        while let row = try rows.next() {
            var cached: CachedPixelsRecord?
            if withCache, let digest = row[8] as Digest?, let codec = ShardFormat.Codec(name: row[13]) {
                cached = CachedPixelsRecord(
                    location: BlobLocation(digest: digest, shardID: row[9], offset: row[10], storedSize: row[11],
                                           rawSize: row[12], codec: codec),
                    width: row[14], height: row[15])
            }
            let classID: Int64 = row[1]
            guard let label = labels[classID] else { throw StoreError(.corrupt, "image row names class \(classID), which is not in the catalog") }
            try body(SampleRecord(blobID: row[0], classID: classID, label: label, location: try Self.location(row), cached: cached))
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
