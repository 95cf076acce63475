import Foundation
internal import GRDB

/// What a writer does when it opens a store, and the shard life cycle (create, seal).
///
/// After any crash the catalog is right and the files may hold extra bytes: partial files in
/// `tmp/`, shard files that no row names (created just before a crash, or left by gc after its
/// commit), and bytes past an open shard's committed length. Recovery removes exactly those.
enum Recovery {
    /// What a writer found when it opened the store.
    struct Opened {
        var shard: StoreWriter.OpenShard
        /// Shards whose files are gone: never appended to, never sealed, left for `loom repair`.
        var missing: [MissingShard]
    }

    /// Cleans up after a crash and returns the shard to append to.
    ///
    /// A missing shard file does not stop the writer: what it held is lost whatever we do, new
    /// records go to another shard, and the caller reports it. An open shard shorter than its
    /// committed length does, unless `tolerateCut` (what `loom repair` asks for): cutting it or
    /// appending past the hole would hide the damage, and the file may yet be restored.
    static func run(store: Store, tolerateCut: Bool = false) throws -> Opened {
        let layout = store.layout
        let files = FileManager.default
        for name in (try? files.contentsOfDirectory(atPath: layout.tmpDirectory)) ?? [] {
            try? files.removeItem(atPath: layout.tmpDirectory + "/" + name)
        }
        let rows = try store.catalog.read { db in
            try Row.fetchAll(db, sql: "SELECT id, committed_bytes, sealed_bytes FROM shards ORDER BY id")
        }
        let known = Set(rows.map { StoreLayout.shardName($0["id"]) })
        for name in (try? files.contentsOfDirectory(atPath: layout.shardsDirectory)) ?? []
        where name.hasSuffix(".loom") && !known.contains(name) {
            try files.removeItem(atPath: layout.shardsDirectory + "/" + name)
        }
        let missing = try store.missingShards()
        let missingIDs = Set(missing.map(\.id))
        var open: StoreWriter.OpenShard? = nil
        for row in rows where row["sealed_bytes"] as Int? == nil {
            let id: Int64 = row["id"], committed: Int = row["committed_bytes"]
            if missingIDs.contains(id) { continue }
            let file = try SystemFile(path: layout.shardPath(id), mode: .readWrite)
            let size = try file.size()
            guard size >= committed else {
                if tolerateCut { continue }
                throw StoreError(.corrupt, """
                    shard is \(size) bytes but the catalog has committed \(committed); \
                    `loom verify` names the records lost, `loom repair` drops them
                    """, path: file.path)
            }
            if size > committed {
                try file.truncate(to: committed)
                try file.syncData()
            }
            if let previous = open {
                // Only the newest unsealed shard takes appends; seal any older one.
                try seal(store: store, id: previous.id, file: previous.file, committedEnd: previous.committedEnd)
            }
            open = StoreWriter.OpenShard(id: id, file: file, committedEnd: committed, writtenEnd: committed)
        }
        return Opened(shard: try open ?? createShard(store: store), missing: missing)
    }

    /// Creates the next shard file (header, fsync, directory fsync), then its catalog row.
    /// A crash in between leaves a file with no row, which the next ``run(store:)`` removes.
    static func createShard(store: Store) throws -> StoreWriter.OpenShard {
        // The id AUTOINCREMENT will hand out next (we hold the writer lock, so nobody else can
        // take it): ids of shards that gc removed are never reused.
        let id = try store.catalog.read { db in
            try Int64.fetchOne(db, sql: """
                SELECT max(coalesce((SELECT seq FROM sqlite_sequence WHERE name = 'shards'), 0),
                           coalesce((SELECT max(id) FROM shards), 0)) + 1
                """) ?? 1
        }
        let path = store.layout.shardPath(id)
        try? FileManager.default.removeItem(atPath: path)
        let file = try SystemFile(path: path, mode: .createReadWrite)
        try ShardFormat.encodeFileHeader(shardID: id).withUnsafeBytes { try file.write($0, at: 0) }
        try file.syncData()
        try SystemFile.syncDirectory(store.layout.shardsDirectory)
        try store.catalog.write { db in
            try db.execute(
                sql: "INSERT INTO shards (id, name, format_version, committed_bytes) VALUES (?, ?, ?, ?)",
                arguments: [id, StoreLayout.shardName(id), Int(ShardFormat.version), ShardFormat.fileHeaderSize])
        }
        return StoreWriter.OpenShard(id: id, file: file, committedEnd: ShardFormat.fileHeaderSize, writtenEnd: ShardFormat.fileHeaderSize)
    }

    /// Writes the index and trailer after the last committed record, fsyncs, and records the
    /// sealed size. From then on the shard is immutable.
    static func seal(store: Store, id: Int64, file: SystemFile, committedEnd: Int) throws {
        var entries: [(digest: Digest, offset: Int)] = []
        var offset = ShardFormat.fileHeaderSize
        while offset < committedEnd {
            let bytes = try file.read(count: ShardFormat.recordHeaderSize, at: offset)
            let header = try bytes.withUnsafeBytes { raw -> ShardFormat.RecordHeader in
                switch ShardFormat.decodeRecordHeader(raw) {
                case .success(let header): return header
                case .failure(let problem):
                    throw StoreError(.corrupt, "cannot seal: record at offset \(offset): \(problem)", path: file.path)
                }
            }
            entries.append((header.digest, offset))
            offset += header.recordSize
        }
        let footer = ShardFormat.encodeFooter(entries: entries, indexOffset: committedEnd)
        try footer.withUnsafeBytes { try file.write($0, at: committedEnd) }
        try file.truncate(to: committedEnd + footer.count)
        try file.syncData()
        try store.catalog.write { db in
            try db.execute(sql: "UPDATE shards SET sealed_bytes = ? WHERE id = ?", arguments: [committedEnd + footer.count, id])
        }
    }
}
