import Foundation

/// Where a fleet store's shards live: objects in S3-compatible storage, read through this
/// machine's byte-bounded cache. LoomStore sees only this protocol; LoomFleet implements it over
/// LoomObjectStore, so the catalog module carries no HTTP stack.
///
/// Shard objects are immutable: a writer seals a shard of its own, uploads it, and only then
/// commits the catalog rows that point into it (the same crash-safe order as the embedded
/// store's fsync-then-commit, across machines).
public protocol RemoteShards: Sendable {
    /// `s3://bucket/prefix at endpoint`, for messages.
    var description: String { get }
    /// Shard object `name` as a URL (`s3://bucket/prefix/shards/NAME`), for reports and errors.
    func url(of name: String) -> String
    /// Bytes `range` of shard object `name`, through the local cache.
    func read(_ name: String, range: Range<Int64>) throws -> [UInt8]
    /// Uploads the complete file at `path` as object `name` unless an object of that name is
    /// there already (`If-None-Match: *` where the store honours it).
    func upload(_ path: String, as name: String) throws
    /// Hands the file at `path`, uploaded as `name` and now committed, to the local cache (or
    /// removes it when there is no room); the caller must not touch it afterwards.
    func adopt(_ path: String, as name: String)
    /// Removes object `name` (gc of a shard no row points into any more).
    func delete(_ name: String) throws
    /// Every shard object under the prefix.
    func list() throws -> [RemoteShardObject]
    /// One listing request of at most one key: the bucket is there and the credentials work.
    func probe() throws
}

/// A shard object as the object store lists it.
public struct RemoteShardObject: Sendable, Hashable {
    public var name: String
    public var size: Int64
    /// When it was written, on the object store's clock.
    public var written: Date?

    public init(name: String, size: Int64, written: Date?) {
        self.name = name
        self.size = size
        self.written = written
    }
}

/// A fleet store's two engines: the PostgreSQL catalog and the object store for shards.
public struct FleetBackends: Sendable {
    public var catalog: PostgresCatalog
    public var shards: any RemoteShards

    public init(catalog: PostgresCatalog, shards: any RemoteShards) {
        self.catalog = catalog
        self.shards = shards
    }
}
