internal import NIOCore
internal import PostgresNIO

protocol PostgresPixelCacheQueries: PixelCacheReading, PostgresRepository {}

extension PostgresPixelCacheQueries {
    func cached(_ source: Digest, shortSide: Int) throws -> CachedPixelsRecord? {
        guard let row = try session.rows("""
            SELECT cb.digest, cb.shard_id, cb."offset", cb.stored_size, cb.raw_size, cb.codec, pc.width, pc.height
            FROM blobs s JOIN pixel_cache pc ON pc.blob_id = s.id AND pc.short_side = \(shortSide)
            JOIN blobs cb ON cb.id = pc.cache_blob_id
            WHERE s.digest = \(source.postgres)
            """).first else { return nil }
        return CachedPixelsRecord(location: try PostgresBlobReader.location(row), width: try row.value("width"),
                                  height: try row.value("height"))
    }

    func count(shortSide: Int) throws -> Int {
        try session.scalar("SELECT count(*) FROM pixel_cache WHERE short_side = \(shortSide)", as: Int.self) ?? 0
    }
}

struct PostgresPixelCacheReader: PostgresPixelCacheQueries {
    let session: PostgresSession
}

struct PostgresPixelCacheWriter: PostgresPixelCacheQueries, PixelCacheWriting {
    let session: PostgresSession

    func put(_ entries: [PixelCacheEntry], shortSide: Int) throws {
        for entry in entries {
            try session.execute("""
                INSERT INTO pixel_cache (blob_id, short_side, cache_blob_id, width, height)
                SELECT s.id, \(shortSide), c.id, \(entry.width), \(entry.height) FROM blobs s, blobs c
                WHERE s.digest = \(entry.source.postgres) AND c.digest = \(entry.cache.postgres)
                ON CONFLICT (blob_id, short_side) DO UPDATE SET
                    cache_blob_id = excluded.cache_blob_id, width = excluded.width, height = excluded.height
                """)
        }
    }
}
