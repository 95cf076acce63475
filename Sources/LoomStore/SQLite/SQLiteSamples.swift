internal import GRDB
internal import GRDBSQLite

/// The loader's sample query. Columns are read by position with SQLite's column calls, so a call
/// over a million rows costs one prepare and no allocation or lookup by name per row.
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
        let sql: String
        var arguments: [Int64] = withCache ? [Int64(cacheShortSide ?? 0)] : []
        var strategy: String?
        switch source {
        case .real(let splitID):
            sql = withCache ? Self.sql.real.cached : Self.sql.real.plain
            arguments.append(splitID)
        case .synthetic(let datasetID, let name):
            sql = withCache ? Self.sql.synthetic.cached : Self.sql.synthetic.plain
            arguments.append(datasetID)
            strategy = name
        }
        // The rows are read with SQLite's own column calls, not GRDB's Row: over a million rows
        // GRDB's per-column DatabaseValue, the Data behind each digest and the String behind each
        // codec were most of the load.
        let statement = try RawStatement(db, sql: sql)
        for (index, value) in arguments.enumerated() { try statement.bind(value, at: index + 1) }
        if let strategy { try statement.bind(strategy, at: arguments.count + 1) }
        while try statement.step() {
            var cached: CachedPixelsRecord?
            if withCache, !statement.isNull(8) {
                cached = CachedPixelsRecord(location: try statement.location(from: 8),
                                            width: Int(statement.int64(14)), height: Int(statement.int64(15)))
            }
            let classID = statement.int64(1)
            guard let label = labels[classID] else { throw StoreError(.corrupt, "image row names class \(classID), which is not in the catalog") }
            try body(SampleRecord(blobID: statement.int64(0), classID: classID, label: label,
                                  location: try statement.location(from: 2), cached: cached))
        }
    }
}

/// One statement prepared on the catalog's connection and stepped with SQLite's column calls.
/// Only the sample query uses it: everywhere else GRDB's rows cost nothing that matters.
private final class RawStatement {
    private let handle: OpaquePointer
    private let connection: OpaquePointer

    init(_ db: Database, sql: String) throws {
        guard let connection = db.sqliteConnection else { throw StoreError(.io, "the catalog connection is closed") }
        var statement: OpaquePointer?
        let code = sqlite3_prepare_v3(connection, sql, -1, 0, &statement, nil)
        guard code == SQLITE_OK, let statement else {
            sqlite3_finalize(statement)
            throw StoreError(.io, "sample query: \(String(cString: sqlite3_errmsg(connection)))")
        }
        self.connection = connection
        handle = statement
    }

    deinit { sqlite3_finalize(handle) }

    func bind(_ value: Int64, at index: Int) throws {
        try check(sqlite3_bind_int64(handle, Int32(index), value))
    }

    func bind(_ value: String, at index: Int) throws {
        // SQLITE_TRANSIENT: SQLite copies the text, which lives only for this call.
        try check(sqlite3_bind_text(handle, Int32(index), value, -1, unsafeBitCast(-1, to: sqlite3_destructor_type.self)))
    }

    /// True while there is a row; false at the end.
    func step() throws -> Bool {
        switch sqlite3_step(handle) {
        case SQLITE_ROW: return true
        case SQLITE_DONE: return false
        case let code: try check(code); return false
        }
    }

    func isNull(_ column: Int32) -> Bool { sqlite3_column_type(handle, column) == SQLITE_NULL }
    func int64(_ column: Int32) -> Int64 { sqlite3_column_int64(handle, column) }

    /// A blob's location from six columns at `first`: digest, shard id, offset, stored size, raw
    /// size, codec; the same checks as ``BlobLocation/init(row:)``.
    func location(from first: Int32) throws -> BlobLocation {
        let count = Int(sqlite3_column_bytes(handle, first))
        guard count == 32, let bytes = sqlite3_column_blob(handle, first) else {
            throw StoreError(.corrupt, "blob row has a malformed digest")
        }
        let digest = Digest(bytes: UnsafeRawPointer(bytes).loadUnaligned(as: SIMD32<UInt8>.self))
        guard let codec = codec(first + 5) else {
            let name = sqlite3_column_text(handle, first + 5).map { "\"\(String(cString: $0))\"" } ?? "NULL"
            throw StoreError(.corrupt, "blob \(digest) has unknown codec \(name)")
        }
        return BlobLocation(digest: digest, shardID: int64(first + 1), offset: Int(int64(first + 2)),
                            storedSize: Int(int64(first + 3)), rawSize: Int(int64(first + 4)), codec: codec)
    }

    private func codec(_ column: Int32) -> ShardFormat.Codec? {
        guard let text = sqlite3_column_text(handle, column) else { return nil }
        return ShardFormat.Codec(utf8Name: UnsafeBufferPointer(start: text, count: Int(sqlite3_column_bytes(handle, column))))
    }

    private func check(_ code: Int32) throws {
        guard code != SQLITE_OK else { return }
        throw StoreError(.io, "sample query: \(String(cString: sqlite3_errmsg(connection)))")
    }
}
