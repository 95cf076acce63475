import Foundation

/// A fleet writer's own shards: staged in a folder of its own under the working folder's
/// `tmp/`, sealed at every commit, uploaded as a new object, and only then committed to the
/// catalog, shard row and blob rows in one transaction.
///
/// Shard ids come from the catalog's `shards` sequence, so two writers on any two machines never
/// append to, or name, the same object. A crash at any moment leaves one of: a staging file
/// (removed by the next writer that opens this working folder), an uploaded object with no row
/// (removed by `loom gc` after its grace period), or a committed shard. Never a row without bytes.
final class FleetShardWriter {
    /// The longest a writer takes from starting an upload to committing it: past it, the commit
    /// is refused, because `loom gc` deletes row-less objects older than twice this
    /// (``FleetGarbageCollector/defaultGrace``).
    static let maximumUploadAge: Duration = .seconds(3600)

    let backends: FleetBackends
    /// `tmp/writer-<uuid>/`: this writer's staging folder, locked while it lives.
    let folder: String
    private let catalogWriter: PostgresCatalogWriter
    private var lock: StoreLock?

    init(layout: StoreLayout, backends: FleetBackends) throws {
        self.backends = backends
        Self.removeAbandoned(in: layout.tmpDirectory)
        folder = layout.tmpDirectory + "/writer-" + UUID().uuidString.lowercased()
        do {
            try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        } catch {
            throw StoreError(.io, "cannot create the writer's staging folder: \(error.localizedDescription)", path: folder)
        }
        lock = try StoreLock(path: folder + "/lock")
        catalogWriter = backends.catalog.makeWriter()
    }

    deinit {
        try? FileManager.default.removeItem(atPath: folder)
        lock = nil
    }

    /// A new staging shard under a freshly reserved id: just its file header, no catalog row yet.
    func createShard() throws -> StoreWriter.OpenShard {
        let id = try catalogWriter.reserveShardID()
        let path = folder + "/" + StoreLayout.shardName(id)
        try? FileManager.default.removeItem(atPath: path)
        let file = try SystemFile(path: path, mode: .createReadWrite)
        try ShardFormat.encodeFileHeader(shardID: id).withUnsafeBytes { try file.write($0, at: 0) }
        return StoreWriter.OpenShard(id: id, file: file, committedEnd: ShardFormat.fileHeaderSize, writtenEnd: ShardFormat.fileHeaderSize)
    }

    /// Runs `body` in one catalog transaction; with `rows` (records staged in `shard`, all
    /// written to its file), seals and uploads the shard first and commits its row with them.
    func commit<T>(_ shard: StoreWriter.OpenShard, rows: [PostgresBlobRow], _ body: (any CatalogTransaction) throws -> T) throws -> T {
        guard !rows.isEmpty else { return try catalogWriter.transaction(body) }
        let entries = rows.map { (digest: $0.location.digest, offset: $0.location.offset) }.sorted { $0.offset < $1.offset }
        let footer = ShardFormat.encodeFooter(entries: entries, indexOffset: shard.writtenEnd)
        try footer.withUnsafeBytes { try shard.file.write($0, at: shard.writtenEnd) }
        try shard.file.truncate(to: shard.writtenEnd + footer.count)
        try shard.file.syncData()
        let name = StoreLayout.shardName(shard.id)
        let uploadStarted = ContinuousClock.now
        try backends.shards.upload(shard.file.path, as: name)
        let sealed = SealedShard(id: shard.id, name: name, formatVersion: Int(ShardFormat.version),
                                 committedBytes: shard.writtenEnd, sealedBytes: shard.writtenEnd + footer.count)
        let value = try catalogWriter.commit(blobs: rows, sealedShard: sealed) { tx in
            let value = try body(tx)
            // Checked last, just before COMMIT: a writer stalled this long may have lost its
            // object to `loom gc`, so its rows must not commit (the caller stages them again).
            guard ContinuousClock.now - uploadStarted < Self.maximumUploadAge else {
                throw StoreError(.unavailable, "shard \(name) was uploaded over an hour ago and not committed; `loom gc` may have removed it: stage it again")
            }
            return value
        }
        // Only now: until the commit, a failure cuts the staged file back, and it must still
        // be this writer's own.
        backends.shards.adopt(shard.file.path, as: name)
        return value
    }

    /// Staging folders whose writer is gone (its lock is free): what a killed writer left.
    private static func removeAbandoned(in directory: String) {
        let files = FileManager.default
        for name in (try? files.contentsOfDirectory(atPath: directory)) ?? [] where name.hasPrefix("writer-") {
            let path = directory + "/" + name
            guard let held = try? StoreLock(path: path + "/lock") else { continue }  // a live writer's
            try? files.removeItem(atPath: path)
            _ = held
        }
    }
}
