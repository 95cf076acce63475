import Foundation
internal import GRDB

/// The one writer of a store: appends records to the open shard and commits catalog rows that
/// point at them.
///
/// Write order is what makes a crash harmless: records are appended and `fdatasync`'ed, and only
/// then does the catalog transaction commit the rows (and the shard's new committed length). A
/// crash before the commit leaves bytes past the committed length, which the next writer
/// truncates; it can never leave a row pointing at missing bytes.
///
/// On a fleet store the same order holds across machines: records go to a shard file of this
/// writer's own in the working folder, and a commit seals it, uploads it as a new object, and
/// only then commits the rows in PostgreSQL (see ``FleetShardWriter``). Any number of writers
/// run at once there; nothing is shared but the catalog's unique keys.
///
/// Not thread-safe: one thread stages and commits (ingest funnels its workers into one).
public final class StoreWriter: CatalogWriter {
    public struct Options: Sendable {
        /// A shard is sealed once its committed length passes this size.
        public var targetShardBytes: Int
        /// Pending record bytes are written to the shard file once they pass this size.
        public var writeBufferBytes: Int

        /// Defaults: 512 MiB shards (`$LOOM_SHARD_BYTES` overrides, for tests), 8 MiB writes.
        public init(targetShardBytes: Int? = nil, writeBufferBytes: Int = 8 << 20) {
            let env = ProcessInfo.processInfo.environment["LOOM_SHARD_BYTES"].flatMap(Int.init)
            self.targetShardBytes = targetShardBytes ?? env ?? 512 << 20
            self.writeBufferBytes = writeBufferBytes
        }
    }

    /// Catalog ids of the blobs a commit inserted, by digest.
    public typealias BlobIDs = [Digest: Int64]

    public let store: Store
    public let options: Options
    /// The embedded store's writer lock; a fleet writer holds its staging folder's instead.
    private let lock: StoreLock?
    private let fleet: FleetShardWriter?
    private var shard: OpenShard
    private var buffer: [UInt8] = []
    private var pending: [(location: BlobLocation, mediaType: String)] = []
    private var pendingIndex: [Digest: Int] = [:]

    struct OpenShard {
        let id: Int64
        let file: SystemFile
        /// End of the last record a committed row may point into.
        var committedEnd: Int
        /// End of the bytes written to the file (committed or not).
        var writtenEnd: Int
    }

    /// Shards whose files were gone when this writer opened the store (see ``Store/missingShards()``).
    public let missingShards: [MissingShard]
    private let missingShardIDs: Set<Int64>

    init(store: Store, options: Options, tolerateCutShards: Bool = false) throws {
        self.store = store
        self.options = options
        if let backends = store.fleet {
            lock = nil
            let fleet = try FleetShardWriter(layout: store.layout, backends: backends)
            self.fleet = fleet
            shard = try fleet.createShard()
            missingShards = []
            missingShardIDs = []
            return
        }
        fleet = nil
        lock = try StoreLock(path: store.layout.lockPath)
        let opened = try Recovery.run(store: store, tolerateCut: tolerateCutShards)
        shard = opened.shard
        missingShards = opened.missing
        missingShardIDs = Set(opened.missing.map(\.id))
    }

    /// This writer's name in job leases: host, process and a random part, so two writers in one
    /// process differ too.
    public let owner = "\(ProcessInfo.processInfo.hostName)/\(getpid())/\(UUID().uuidString.prefix(8).lowercased())"

    /// On a fleet store, renews this writer's leases on the run's jobs until stopped; nil on an
    /// embedded store, whose single writer needs no leases.
    public func renewingLeases(runID: Int64, lease: Duration) -> JobLeaseRenewer? {
        guard let fleet else { return nil }
        return JobLeaseRenewer(catalog: fleet.backends.catalog, runID: runID, owner: owner, lease: lease)
    }

    /// Whether other writers may be at work on this store at the same time (a fleet store).
    public var isShared: Bool { fleet != nil }

    /// The shard new records go to.
    public var currentShardID: Int64 { shard.id }

    /// Bytes staged since the last commit.
    public var pendingBytes: Int { shard.writtenEnd - shard.committedEnd + buffer.count }

    /// Catalog ids of those `digests` that already have a committed blob whose bytes are there.
    ///
    /// A blob in a missing shard does not count: the caller stages its bytes again, and the
    /// commit points the existing row at the new copy, so writing the same bytes heals it.
    public func committedBlobIDs(_ digests: some Sequence<Digest>) throws -> BlobIDs {
        if let fleet { return try fleet.backends.catalog.blobIDs(digests) }
        return try store.catalog.read { db in
            let select = try db.cachedStatement(sql: "SELECT id, shard_id FROM blobs WHERE digest = ?")
            var found: BlobIDs = [:]
            for digest in digests {
                if let row = try Row.fetchOne(select, arguments: [digest.databaseValue]), !missingShardIDs.contains(row["shard_id"]) {
                    found[digest] = row["id"]
                }
            }
            return found
        }
    }

    /// Appends a record holding `bytes` (not yet durable, not yet in the catalog).
    ///
    /// Staging the same digest twice before a commit stores it once. The caller checks the
    /// catalog (``committedBlobIDs(_:)``) so committed blobs are not stored again.
    @discardableResult
    public func stage(_ bytes: UnsafeRawBufferPointer, digest: Digest, mediaType: String,
                      policy: BlobCodec.Policy = .auto) throws -> BlobLocation {
        if let index = pendingIndex[digest] { return pending[index].location }
        try startFreshShardIfNeeded()
        let (codec, frame) = try BlobCodec.encode(bytes, mediaType: mediaType, policy: policy)
        let offset = shard.writtenEnd + buffer.count
        func append(_ payload: UnsafeRawBufferPointer) -> BlobLocation {
            let header = ShardFormat.RecordHeader(
                codec: codec, storedSize: payload.count, rawSize: bytes.count, digest: digest,
                payloadCRC: CRC32.checksum(payload))
            ShardFormat.encodeRecordHeader(header, into: &buffer)
            buffer.append(contentsOf: payload)
            return BlobLocation(digest: digest, shardID: shard.id, offset: offset, storedSize: payload.count,
                                rawSize: bytes.count, codec: codec)
        }
        let location = frame.map { f in f.withUnsafeBytes(append) } ?? append(bytes)
        pendingIndex[digest] = pending.count
        pending.append((location, mediaType))
        if buffer.count >= options.writeBufferBytes { try flush() }
        return location
    }

    /// Appends a whole record copied from another shard (gc), after checking it.
    func stageRecord(_ record: UnsafeRawBufferPointer, from old: BlobLocation, mediaType: String) throws -> BlobLocation {
        if let problem = BlobReader.check(record, expected: old) {
            throw StoreError(.corrupt, "blob \(old.digest.hex) at offset \(old.offset): \(problem)", path: store.layout.shardPath(old.shardID))
        }
        var location = old
        location.shardID = shard.id
        location.offset = shard.writtenEnd + buffer.count
        buffer.append(contentsOf: record)
        pendingIndex[old.digest] = pending.count
        pending.append((location, mediaType))
        if buffer.count >= options.writeBufferBytes { try flush() }
        return location
    }

    /// Makes staged records durable, then runs `body` in one catalog transaction together with
    /// the `blobs` rows for them and the shard's new committed length.
    ///
    /// `body` receives the new blobs' ids; whatever it inserts commits atomically with them. If
    /// anything throws, the transaction rolls back and the staged bytes are cut off again.
    @discardableResult
    func commit<T>(_ body: (Database, BlobIDs) throws -> T) throws -> T {
        do {
            try flush()
            if shard.writtenEnd > shard.committedEnd { try shard.file.syncData() }
            let newEnd = shard.writtenEnd, shardID = shard.id, blobs = pending
            let result = try store.catalog.write { db in
                var ids: BlobIDs = [:]
                let insert = try db.cachedStatement(sql: """
                    INSERT INTO blobs (digest, shard_id, offset, stored_size, raw_size, codec, media_type)
                    VALUES (?, ?, ?, ?, ?, ?, ?)
                    ON CONFLICT (digest) DO UPDATE SET shard_id = excluded.shard_id, offset = excluded.offset,
                        stored_size = excluded.stored_size, codec = excluded.codec
                    RETURNING id
                    """)
                for (location, mediaType) in blobs {
                    ids[location.digest] = try Int64.fetchOne(insert, arguments: [
                        location.digest.databaseValue, location.shardID, location.offset, location.storedSize, location.rawSize,
                        location.codec.name, mediaType,
                    ])
                }
                let result = try body(db, ids)
                try db.execute(sql: "UPDATE shards SET committed_bytes = ? WHERE id = ?", arguments: [newEnd, shardID])
                return result
            }
            shard.committedEnd = newEnd
            pending.removeAll(keepingCapacity: true)
            pendingIndex.removeAll(keepingCapacity: true)
            if shard.committedEnd >= options.targetShardBytes { try rollOver() }
            return result
        } catch {
            discardUncommitted()
            throw error
        }
    }

    /// ``commit(_:)`` through the repositories: `body` writes with the transaction's write
    /// repositories (and reads what it wrote), atomically with the staged blobs, whose new ids are
    /// `tx.newBlobIDs`. Only the writer-lock holder has a ``StoreWriter``, so only it can write.
    @discardableResult
    public func transaction<T>(_ body: (any CatalogTransaction) throws -> T) throws -> T {
        guard let fleet else { return try commit { db, ids in try body(SQLiteTransaction(db: db, newBlobIDs: ids)) } }
        let rows = pending.map { PostgresBlobRow(location: $0.location, mediaType: $0.mediaType) }
        let result: T
        do {
            try flush()
            result = try fleet.commit(shard, rows: rows, body)
        } catch {
            discardUncommitted()
            // An upload that failed may still have made the object (the answer lost on the
            // way back): the next records go under a fresh id, never the same name twice.
            if !rows.isEmpty { needsFreshShard = true }
            throw error
        }
        pending.removeAll(keepingCapacity: true)
        pendingIndex.removeAll(keepingCapacity: true)
        // The committed file now belongs to the cache: nothing may cut it back (it is all
        // committed), and the next record starts a new shard.
        shard.committedEnd = shard.writtenEnd
        if !rows.isEmpty { needsFreshShard = true }
        return result
    }

    /// A fleet writer whose last shard was committed (or abandoned) starts the next one when it
    /// next stages a record, so that no commit throws after it has committed.
    private var needsFreshShard = false

    private func startFreshShardIfNeeded() throws {
        guard needsFreshShard, let fleet else { return }
        let abandoned = shard.file.path
        shard = try fleet.createShard()
        needsFreshShard = false
        try? FileManager.default.removeItem(atPath: abandoned)  // gone already when the cache took it
    }

    /// Seals the open shard (index + trailer) and starts a new one. A fleet writer seals every
    /// shard at its commit, so there is nothing to do there.
    public func rollOver() throws {
        guard fleet == nil else { return }
        try flush()
        guard pending.isEmpty else { throw StoreError(.invalidArgument, "commit staged records before sealing a shard") }
        if shard.committedEnd > ShardFormat.fileHeaderSize {
            try Recovery.seal(store: store, id: shard.id, file: shard.file, committedEnd: shard.committedEnd)
            shard = try Recovery.createShard(store: store)
        }
    }

    /// Leaves the open shard as it is (unsealed) and appends to a new one from now on: `loom
    /// repair` moves off a damaged shard this way, since sealing walks records that may be broken.
    func startNewShard() throws {
        guard fleet == nil else { return }
        try flush()
        guard pending.isEmpty else { throw StoreError(.invalidArgument, "commit staged records before changing shards") }
        shard = try Recovery.createShard(store: store)
    }

    private func flush() throws {
        guard !buffer.isEmpty else { return }
        try buffer.withUnsafeBytes { try shard.file.write($0, at: shard.writtenEnd) }
        // Writeback starts now, while the workers decode the next files, so the commit's
        // fdatasync has less left to wait for (at the end of an ingest nothing overlaps it).
        shard.file.startWriteback(offset: shard.writtenEnd, length: buffer.count)
        shard.writtenEnd += buffer.count
        buffer.removeAll(keepingCapacity: true)
    }

    private func discardUncommitted() {
        buffer.removeAll(keepingCapacity: true)
        pending.removeAll(keepingCapacity: true)
        pendingIndex.removeAll(keepingCapacity: true)
        if shard.writtenEnd > shard.committedEnd {
            try? shard.file.truncate(to: shard.committedEnd)
            shard.writtenEnd = shard.committedEnd
        }
    }
}
