import Foundation
internal import GRDB

/// What `loom gc` reclaimed. JSON keys are part of the CLI contract.
public struct GCReport: Codable, Sendable {
    public var deletedBlobs: Int
    public var rewrittenShards: Int
    public var removedShards: Int
    public var reclaimedBytes: Int
    /// Shards whose file is gone and that still hold live rows: left for `loom repair`.
    public var missingShards: [String]

    enum CodingKeys: String, CodingKey {
        case deletedBlobs = "deleted_blobs"
        case rewrittenShards = "rewritten_shards"
        case removedShards = "removed_shards"
        case reclaimedBytes = "reclaimed_bytes"
        case missingShards = "missing_shards"
    }
}

/// Reclaims bytes no row references.
///
/// 1. Deletes derived rows whose source is gone, then `blobs` rows that nothing in `v_blob_refs`
///    points at.
/// 2. Rewrites every shard holding dead records: live records are copied verbatim (after their
///    checksums are checked) into the open shard; one commit repoints their rows and drops the
///    old shard's row; only then is the old file unlinked. A crash before that commit leaves the
///    old shard in use and the copies as uncommitted bytes; a crash after it leaves an orphan file
///    that the next writer deletes. Readers holding the old file open keep reading it until they
///    close it; a reader that finds it gone looks the blob up again.
public enum GarbageCollector {
    public static func run(_ writer: StoreWriter) throws -> GCReport {
        let store = writer.store
        var report = GCReport(deletedBlobs: 0, rewrittenShards: 0, removedShards: 0, reclaimedBytes: 0, missingShards: [])
        let missing = Set(writer.missingShards.map(\.id))
        report.deletedBlobs = try writer.commit { db, _ in
            // Derived rows (pixel caches) of deleted data go first: they would keep their blobs alive.
            try db.execute(sql: "DELETE FROM pixel_cache WHERE blob_id NOT IN (SELECT blob_id FROM v_blob_roots)")
            try db.execute(sql: "DELETE FROM blobs WHERE id NOT IN (SELECT blob_id FROM v_blob_refs)")
            return db.changesCount
        }
        let candidates = try store.catalog.read { db in
            try Row.fetchAll(db, sql: """
                SELECT s.id, s.committed_bytes,
                       coalesce((SELECT sum(stored_size + \(ShardFormat.recordHeaderSize)) FROM blobs b WHERE b.shard_id = s.id), 0) AS live
                FROM shards s ORDER BY s.id
                """)
        }
        for row in candidates {
            let id: Int64 = row["id"], committed: Int = row["committed_bytes"], live: Int = row["live"]
            if missing.contains(id) {
                // Nothing to copy from a file that is gone: once no row points into it the row
                // goes; while some do, `loom repair` decides.
                if live == 0 {
                    try writer.commit { db, _ in try db.execute(sql: "DELETE FROM shards WHERE id = ?", arguments: [id]) }
                    report.removedShards += 1
                } else {
                    report.missingShards.append(StoreLayout.shardName(id))
                }
                continue
            }
            guard committed - ShardFormat.fileHeaderSize > live else { continue }
            if id == writer.currentShardID { try writer.rollOver() }
            if id == writer.currentShardID { continue }
            let fileBytes = try store.blobs.shardFile(id).size()
            try rewrite(shard: id, writer: writer)
            report.reclaimedBytes += fileBytes - live
            if live > 0 { report.rewrittenShards += 1 }
            report.removedShards += 1
        }
        return report
    }

    /// Copies the live records of shard `id` into the writer's shard, then drops the old one.
    static func rewrite(shard id: Int64, writer: StoreWriter) throws {
        let store = writer.store
        let rows = try store.catalog.read { db in
            try Row.fetchAll(db, sql: "SELECT \(BlobLocation.columns), media_type FROM blobs WHERE shard_id = ? ORDER BY offset",
                             arguments: [id])
        }
        let file = try store.blobs.shardFile(id)
        var moved = 0
        for row in rows {
            let location = try BlobLocation(row: row)
            let record = try file.read(count: location.recordSize, at: location.offset)
            _ = try record.withUnsafeBytes { try writer.stageRecord($0, from: location, mediaType: row["media_type"]) }
            moved += 1
            if writer.pendingBytes >= 64 << 20 { try writer.commit { _, _ in } }
        }
        try writer.commit { db, _ in
            let remaining = try Int.fetchOne(db, sql: "SELECT count(*) FROM blobs WHERE shard_id = ?", arguments: [id]) ?? 0
            guard remaining == 0 else {
                throw StoreError(.corrupt, "gc: \(remaining) blobs still point into shard \(StoreLayout.shardName(id)) after the copy")
            }
            try db.execute(sql: "DELETE FROM shards WHERE id = ?", arguments: [id])
        }
        store.blobs.forget(shardID: id)
        try? FileManager.default.removeItem(atPath: store.layout.shardPath(id))
        try SystemFile.syncDirectory(store.layout.shardsDirectory)
    }
}
