internal import NIOCore
internal import PostgresNIO

/// The fleet catalog: the same repositories as the embedded SQLite one, on a PostgreSQL server
/// (`--catalog postgresql://...`), so many processes on many machines read and write one catalog.
///
/// Reads run in `REPEATABLE READ READ ONLY` transactions: every repository read inside one
/// ``read(_:)`` sees one committed state, as a SQLite WAL read does.
///
/// Writes run in `READ COMMITTED` transactions (``PostgresCatalogWriter``). Not SERIALIZABLE: a
/// serialization failure can only be handled by running the transaction again, and a
/// transaction's body is caller code that has done things outside the catalog (bytes uploaded,
/// a model run), so it cannot be replayed behind the caller's back. Every write is instead
/// correct under READ COMMITTED by construction: get-or-create goes through the unique keys
/// (`INSERT ... ON CONFLICT DO NOTHING`, then a read, which in READ COMMITTED sees the row a
/// concurrent writer committed), so concurrent inserts of one digest or one dataset resolve to
/// one row; lifecycle moves are single guarded UPDATEs (`WHERE status = 'running'`), which
/// PostgreSQL re-checks after waiting on a concurrent writer; and the one read-then-write that
/// allocates (class labels) first locks its dataset's row.
public final class PostgresCatalog: CatalogReader {
    public let url: PostgresCatalogURL
    let connections: PostgresConnections

    /// Connects to the catalog at `url` and, with `migrate`, brings its schema up to date
    /// (creating it in an empty database); without, checks it is at this loom's version.
    /// - Throws: `StoreError` `.invalidArgument` for a bad URL, `.unavailable` when the server
    ///   cannot be reached, `.noStore` when the database does not exist, `.schema` for a
    ///   catalog of another version; each message names `host:port/database`.
    public init(url: PostgresCatalogURL, migrate: Bool = true) throws {
        self.url = url
        connections = try PostgresConnections(url: url)
        try connections.withSession { session in
            if migrate { try PostgresMigrations.migrate(session) } else { try PostgresMigrations.check(session) }
        }
    }

    public convenience init(_ text: String, migrate: Bool = true) throws {
        try self.init(url: PostgresCatalogURL(parsing: text), migrate: migrate)
    }

    /// How every read begins: one committed state for the whole read.
    static let snapshotBegin = "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY"

    public func read<T>(_ body: (any CatalogSnapshot) throws -> T) throws -> T {
        try connections.transaction(Self.snapshotBegin) { session in
            try body(PostgresSnapshot(session: session))
        }
    }

    /// The ids of those `digests` that have a blob row, in one statement per 4096 digests (a
    /// writer asks this for every batch it stages: one round trip, not one per image).
    public func blobIDs(_ digests: some Sequence<Digest>) throws -> [Digest: Int64] {
        let all = Array(Set(digests))
        var found: [Digest: Int64] = [:]
        try connections.withSession { session in
            for start in stride(from: 0, to: all.count, by: PostgresBlobWriter.batch) {
                let chunk = all[start..<min(start + PostgresBlobWriter.batch, all.count)]
                for row in try session.rows("SELECT digest, id FROM blobs WHERE digest = ANY(\(chunk.map(\.postgres))::bytea[])") {
                    found[try row.digest("digest")] = try row.value("id")
                }
            }
        }
        return found
    }

    /// A writer: any number may write at once, from any number of processes.
    public func makeWriter() -> PostgresCatalogWriter { PostgresCatalogWriter(catalog: self) }

    /// Closes the idle connections; later calls open new ones.
    public func close() { connections.close() }
}

/// A fleet writer's shard, sealed and uploaded, as its catalog row will say.
public struct SealedShard: Hashable, Sendable {
    public var id: Int64
    public var name: String
    public var formatVersion: Int
    public var committedBytes: Int
    public var sealedBytes: Int

    public init(id: Int64, name: String, formatVersion: Int, committedBytes: Int, sealedBytes: Int) {
        self.id = id
        self.name = name
        self.formatVersion = formatVersion
        self.committedBytes = committedBytes
        self.sealedBytes = sealedBytes
    }
}

/// A blob row to commit: its bytes are already durable where `location` says.
public struct PostgresBlobRow: Hashable, Sendable {
    public var location: BlobLocation
    public var mediaType: String
    public init(location: BlobLocation, mediaType: String) {
        self.location = location
        self.mediaType = mediaType
    }
}

/// Opens write transactions on a PostgreSQL catalog (see ``PostgresCatalog`` for the isolation).
/// Blob bytes are the blob store's business: a caller uploads them first, then commits their
/// rows with ``commit(blobs:shard:_:)``, the same crash-safe order as ``StoreWriter``.
public final class PostgresCatalogWriter: CatalogWriter {
    public let catalog: PostgresCatalog

    init(catalog: PostgresCatalog) { self.catalog = catalog }

    @discardableResult
    public func transaction<T>(_ body: (any CatalogTransaction) throws -> T) throws -> T {
        try commit(blobs: [], body)
    }

    /// Commits the rows of `blobs` and whatever `body` writes in one transaction; with `shard`,
    /// also that shard's new committed length. A digest already in the catalog (another writer
    /// stored the same bytes) keeps its row: `tx.newBlobIDs` maps every digest of `blobs` to the
    /// row that holds it.
    @discardableResult
    public func commit<T>(blobs: [PostgresBlobRow], shard: (id: Int64, committedBytes: Int)? = nil,
                          _ body: (any CatalogTransaction) throws -> T) throws -> T {
        try catalog.connections.transaction("BEGIN ISOLATION LEVEL READ COMMITTED") { session in
            let ids = try PostgresBlobWriter.insert(blobs, session: session)
            let value = try body(PostgresTransaction(session: session, newBlobIDs: ids))
            if let shard {
                try session.execute("UPDATE shards SET committed_bytes = \(shard.committedBytes) WHERE id = \(shard.id)")
            }
            return value
        }
    }

    /// Commits a fleet writer's sealed shard: its row (`shard`), the rows of the `blobs` in it,
    /// and whatever `body` writes, in one transaction. The shard's object is uploaded before
    /// this runs, so no committed row ever points at bytes that are not there.
    @discardableResult
    public func commit<T>(blobs: [PostgresBlobRow], sealedShard shard: SealedShard,
                          _ body: (any CatalogTransaction) throws -> T) throws -> T {
        try catalog.connections.transaction("BEGIN ISOLATION LEVEL READ COMMITTED") { session in
            try session.execute("""
                INSERT INTO shards (id, name, format_version, committed_bytes, sealed_bytes)
                VALUES (\(shard.id), \(shard.name), \(shard.formatVersion), \(shard.committedBytes), \(shard.sealedBytes))
                """)
            let ids = try PostgresBlobWriter.insert(blobs, session: session)
            return try body(PostgresTransaction(session: session, newBlobIDs: ids))
        }
    }

    /// A shard id no other writer will ever get (the `shards` identity's next value), for a
    /// shard whose row is inserted only when it commits; a writer that dies first leaves a gap.
    public func reserveShardID() throws -> Int64 {
        try catalog.connections.withSession { session in
            guard let id = try session.scalar("SELECT nextval(pg_get_serial_sequence('shards', 'id'))", as: Int64.self) else {
                throw StoreError(.io, "PostgreSQL at \(session.endpoint): nextval returned nothing")
            }
            return id
        }
    }

    /// Records a new shard (committed length 0) and returns its id.
    public func createShard(name: String, formatVersion: Int) throws -> Int64 {
        try catalog.connections.withSession { session in
            guard let id = try session.scalar("""
                INSERT INTO shards (name, format_version, committed_bytes) VALUES (\(name), \(formatVersion), 0) RETURNING id
                """, as: Int64.self) else { throw StoreError(.io, "PostgreSQL at \(session.endpoint): INSERT INTO shards returned no id") }
            return id
        }
    }
}

struct PostgresSnapshot: CatalogSnapshot {
    let session: PostgresSession

    var datasets: any DatasetReading { PostgresDatasetReader(session: session) }
    var blobs: any BlobReading { PostgresBlobReader(session: session) }
    var samples: any SampleReading { PostgresSampleReader(session: session) }
    var captions: any CaptionReading { PostgresCaptionReader(session: session) }
    var prompts: any PromptReading { PostgresPromptReader(session: session) }
    var synthetic: any SyntheticReading { PostgresSyntheticReader(session: session) }
    var jobs: any JobReading { PostgresJobReader(session: session) }
    var runs: any RunReading { PostgresRunReader(session: session) }
    var training: any TrainingReading { PostgresTrainingReader(session: session) }
    var pixelCache: any PixelCacheReading { PostgresPixelCacheReader(session: session) }
    var lineage: any LineageReading { PostgresLineageReader(session: session) }
    var info: any CatalogInfoReading { PostgresInfoReader(session: session) }
}

struct PostgresTransaction: CatalogTransaction {
    let session: PostgresSession
    let newBlobIDs: [Digest: Int64]

    var snapshot: any CatalogSnapshot { PostgresSnapshot(session: session) }
    var datasets: any DatasetWriting { PostgresDatasetWriter(session: session) }
    var captions: any CaptionWriting { PostgresCaptionWriter(session: session) }
    var prompts: any PromptWriting { PostgresPromptWriter(session: session) }
    var synthetic: any SyntheticWriting { PostgresSyntheticWriter(session: session) }
    var jobs: any JobWriting { PostgresJobWriter(session: session) }
    var runs: any RunWriting { PostgresRunWriter(session: session) }
    var training: any TrainingWriting { PostgresTrainingWriter(session: session) }
    var pixelCache: any PixelCacheWriting { PostgresPixelCacheWriter(session: session) }
}

/// A session for the length of one read or transaction; valid only in its closure.
protocol PostgresRepository {
    var session: PostgresSession { get }
}

struct PostgresInfoReader: CatalogInfoReading, PostgresRepository {
    let session: PostgresSession
    func schemaVersion() throws -> Int { try PostgresMigrations.version(session) }
    func changeToken() throws -> Int64? { nil }
}
