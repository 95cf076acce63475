import Glibc
internal import GRDB

/// A shard the catalog lists whose file is not there: every blob in it is lost until the file
/// comes back (from a backup) or `loom repair` drops the rows that point into it.
public struct MissingShard: Sendable, Hashable, Codable {
    public var id: Int64
    public var name: String
    /// Blobs whose bytes were in it.
    public var blobs: Int
    /// Their record bytes (payload + header).
    public var storedBytes: Int

    enum CodingKeys: String, CodingKey {
        case id, name, blobs
        case storedBytes = "stored_bytes"
    }

    public init(id: Int64, blobs: Int, storedBytes: Int) {
        self.id = id
        name = StoreLayout.shardName(id)
        self.blobs = blobs
        self.storedBytes = storedBytes
    }
}

extension Store {
    /// The shards whose files are gone, with what they held; one `stat` per shard.
    public func missingShards() throws -> [MissingShard] {
        let rows = try catalog.read { db in
            try Row.fetchAll(db, sql: """
                SELECT s.id, count(b.id) AS blobs, coalesce(sum(b.stored_size + \(ShardFormat.recordHeaderSize)), 0) AS bytes
                FROM shards s LEFT JOIN blobs b ON b.shard_id = s.id
                GROUP BY s.id ORDER BY s.id
                """)
        }
        return rows.compactMap { row in
            let id: Int64 = row["id"]
            guard !layout.shardFileExists(id) else { return nil }
            return MissingShard(id: id, blobs: row["blobs"], storedBytes: row["bytes"])
        }
    }
}

extension StoreLayout {
    /// Whether the shard's file exists (`access(2)`, which does not open it). Only a file that is
    /// not there counts as missing: a file we may not read is an I/O error, reported when read.
    func shardFileExists(_ id: Int64) -> Bool {
        access(shardPath(id), F_OK) == 0 || errno != ENOENT
    }
}
