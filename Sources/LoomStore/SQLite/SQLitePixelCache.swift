internal import GRDB

protocol SQLitePixelCacheQueries: PixelCacheReading, SQLiteRepository {}

extension SQLitePixelCacheQueries {
    func cached(_ source: Digest, shortSide: Int) throws -> CachedPixelsRecord? {
        let select = try db.cachedStatement(sql: """
            SELECT cb.digest, cb.shard_id, cb.offset, cb.stored_size, cb.raw_size, cb.codec, pc.width, pc.height
            FROM blobs s JOIN pixel_cache pc ON pc.blob_id = s.id AND pc.short_side = ? JOIN blobs cb ON cb.id = pc.cache_blob_id
            WHERE s.digest = ?
            """)
        guard let row = try Row.fetchOne(select, arguments: [shortSide, source.databaseValue]) else { return nil }
        return CachedPixelsRecord(location: try BlobLocation(row: row), width: row["width"], height: row["height"])
    }

    func count(shortSide: Int) throws -> Int {
        try Int.fetchOne(db, sql: "SELECT count(*) FROM pixel_cache WHERE short_side = ?", arguments: [shortSide]) ?? 0
    }
}

struct SQLitePixelCacheReader: SQLitePixelCacheQueries {
    let db: Database
}

struct SQLitePixelCacheWriter: SQLitePixelCacheQueries, PixelCacheWriting {
    let db: Database

    func put(_ entries: [PixelCacheEntry], shortSide: Int) throws {
        let insert = try db.cachedStatement(sql: """
            INSERT OR REPLACE INTO pixel_cache (blob_id, short_side, cache_blob_id, width, height)
            SELECT s.id, ?, c.id, ?, ? FROM blobs s, blobs c WHERE s.digest = ? AND c.digest = ?
            """)
        for entry in entries {
            try insert.execute(arguments: [shortSide, entry.width, entry.height, entry.source.databaseValue, entry.cache.databaseValue])
        }
    }
}
