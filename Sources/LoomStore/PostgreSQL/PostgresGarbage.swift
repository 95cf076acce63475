internal import NIOCore
internal import PostgresNIO

/// The catalog half of `loom gc` on a fleet store (``FleetGarbageCollector``).
enum PostgresGarbage {
    /// In one transaction: derived rows of deleted data, then blob rows nothing references, then
    /// the rows of sealed shards left without a blob. Returns the blobs deleted and the shards
    /// whose objects may now go.
    ///
    /// A writer committing at the same time is safe either way: its new shard row and the rows
    /// that reference its blobs commit together, invisible here until then; a row it inserts that
    /// references a blob deleted here fails on the foreign key (in whichever transaction comes
    /// second), so nothing ever points at a deleted blob.
    static func collect(_ catalog: PostgresCatalog) throws -> (blobs: Int, shards: [(name: String, bytes: Int)]) {
        try catalog.connections.transaction("BEGIN ISOLATION LEVEL READ COMMITTED") { session in
            try session.execute("DELETE FROM pixel_cache WHERE blob_id NOT IN (SELECT blob_id FROM v_blob_roots)")
            let blobs = try session.execute("DELETE FROM blobs WHERE id NOT IN (SELECT blob_id FROM v_blob_refs WHERE blob_id IS NOT NULL)")
            let shards = try session.rows("""
                DELETE FROM shards s WHERE s.sealed_bytes IS NOT NULL AND NOT EXISTS (SELECT 1 FROM blobs b WHERE b.shard_id = s.id)
                RETURNING s.name, s.sealed_bytes
                """).map { (name: try $0.value("name", String.self), bytes: try $0.value("sealed_bytes", Int.self)) }
            return (blobs, shards)
        }
    }

    /// The names of every shard the catalog has.
    static func shardNames(_ catalog: PostgresCatalog) throws -> Set<String> {
        try catalog.connections.transaction(PostgresCatalog.snapshotBegin) { session in
            Set(try session.rows("SELECT name FROM shards").map { try $0.value("name", String.self) })
        }
    }
}
