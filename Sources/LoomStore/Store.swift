import Foundation

/// A Loom store: a catalog plus the shards it points into.
///
/// Embedded (the default): the SQLite catalog and shard files in the store directory. Reading
/// needs no lock: WAL gives every reader a consistent snapshot, and readers only follow rows to
/// bytes that were durable before those rows committed. Writing goes through ``StoreWriter``
/// (one per store at a time, across processes).
///
/// Fleet (`--catalog postgresql://...`, `--blobs s3://...`): a PostgreSQL catalog and shard
/// objects in S3-compatible storage; the store directory is only this machine's working folder
/// (the shard cache, partial writes, the recorded configuration). Any number of writers, on any
/// number of machines, each appending to shards of its own.
public final class Store: Sendable {
    public enum Access: Sendable {
        /// Never writes; the catalog connections are opened `SQLITE_OPEN_READONLY`.
        case readOnly
        /// Creates the store when missing and migrates the catalog.
        case readWrite
    }

    enum Backend: Sendable {
        case embedded(Catalog)
        case fleet(FleetBackends)
    }

    public let layout: StoreLayout
    public let blobs: BlobReader
    public let access: Access
    /// The catalog's read repositories (see ``CatalogReader``); writes go through ``makeWriter(options:)``.
    public let reader: any CatalogReader
    let backend: Backend

    /// Opens (or, with `.readWrite`, creates) the embedded store at `layout.root`.
    /// - Throws: `StoreError.noStore` when a read-only open finds no catalog.
    public init(_ layout: StoreLayout, access: Access) throws {
        self.layout = layout
        self.access = access
        let files = FileManager.default
        switch access {
        case .readOnly:
            guard files.fileExists(atPath: layout.catalogPath) else {
                throw StoreError(.noStore, "no Loom store here (no catalog.sqlite); `loom ingest` creates one, or pass --store / set LOOM_STORE", path: layout.root)
            }
        case .readWrite:
            try Self.createDirectories([layout.root, layout.shardsDirectory, layout.tmpDirectory])
        }
        let catalog = try Catalog(path: layout.catalogPath, readOnly: access == .readOnly)
        backend = .embedded(catalog)
        reader = SQLiteCatalogReader(pool: catalog.pool)
        blobs = BlobReader(layout: layout, source: .files, reader: reader)
    }

    /// Opens a fleet store whose working folder is `layout.root` (created when missing).
    public init(_ layout: StoreLayout, fleet: FleetBackends, access: Access) throws {
        self.layout = layout
        self.access = access
        try Self.createDirectories([layout.root, layout.tmpDirectory])
        backend = .fleet(fleet)
        blobs = BlobReader(layout: layout, source: .remote(fleet.shards), reader: fleet.catalog)
        reader = fleet.catalog
    }

    /// The fleet engines, or nil for an embedded store.
    public var fleet: FleetBackends? {
        if case .fleet(let backends) = backend { return backends }
        return nil
    }

    /// Which store this is, to tell two apart: the catalog's URL (without its password) for a
    /// fleet store, the directory's real path for an embedded one.
    public var identity: String {
        if let fleet { return fleet.catalog.url.description }
        let root = URL(fileURLWithPath: layout.root).resolvingSymlinksInPath().standardizedFileURL.path
        return "embedded store \(root)"
    }

    /// The embedded SQLite catalog. What only it can do (`loom sql`'s authorizer, verify's scan
    /// of shard files, gc, repair) throws on a fleet store, naming the catalog it has instead.
    var catalog: Catalog {
        get throws {
            switch backend {
            case .embedded(let catalog): return catalog
            case .fleet(let fleet):
                throw StoreError(.invalidArgument, """
                    this needs the embedded SQLite catalog; the store's catalog is PostgreSQL at \(fleet.catalog.url.endpoint)
                    """, path: layout.root)
            }
        }
    }

    /// Reads one consistent snapshot of the catalog: `store.read { $0.runs.run(id: id) }`.
    public func read<T>(_ body: (any CatalogSnapshot) throws -> T) throws -> T { try reader.read(body) }

    /// The writer: on an embedded store it takes the store's writer lock and recovers from any
    /// crash; on a fleet store it is one of any number (see ``StoreWriter``).
    public func makeWriter(options: StoreWriter.Options = .init()) throws -> StoreWriter {
        guard access == .readWrite else { throw StoreError(.invalidArgument, "store was opened read-only", path: layout.root) }
        return try StoreWriter(store: self, options: options)
    }

    private static func createDirectories(_ directories: [String]) throws {
        for directory in directories {
            do {
                try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            } catch {
                throw StoreError(.io, "cannot create directory: \(error.localizedDescription)", path: directory)
            }
        }
    }
}
