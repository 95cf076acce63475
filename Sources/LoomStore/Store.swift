import Foundation

/// A Loom store: the catalog plus the shard files it points into.
///
/// Reading needs no lock: WAL gives every reader a consistent snapshot, and readers only follow
/// rows to bytes that were durable before those rows committed. Writing goes through
/// ``StoreWriter`` (one per store at a time, across processes).
public final class Store: Sendable {
    public enum Access: Sendable {
        /// Never writes; the catalog connections are opened `SQLITE_OPEN_READONLY`.
        case readOnly
        /// Creates the store when missing and migrates the catalog.
        case readWrite
    }

    public let layout: StoreLayout
    public let catalog: Catalog
    public let blobs: BlobReader
    public let access: Access
    /// The catalog's read repositories (see ``CatalogReader``); writes go through ``makeWriter(options:)``.
    public let reader: any CatalogReader

    /// Opens (or, with `.readWrite`, creates) the store at `layout.root`.
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
            for directory in [layout.root, layout.shardsDirectory, layout.tmpDirectory] {
                do {
                    try files.createDirectory(atPath: directory, withIntermediateDirectories: true)
                } catch {
                    throw StoreError(.io, "cannot create directory: \(error.localizedDescription)", path: directory)
                }
            }
        }
        catalog = try Catalog(path: layout.catalogPath, readOnly: access == .readOnly)
        blobs = BlobReader(layout: layout, catalog: catalog)
        reader = SQLiteCatalogReader(pool: catalog.pool)
    }

    /// Reads one consistent snapshot of the catalog: `store.read { $0.runs.run(id: id) }`.
    public func read<T>(_ body: (any CatalogSnapshot) throws -> T) throws -> T { try reader.read(body) }

    /// Takes the store's writer lock and recovers from any crash (see ``StoreWriter``).
    public func makeWriter(options: StoreWriter.Options = .init()) throws -> StoreWriter {
        guard access == .readWrite else { throw StoreError(.invalidArgument, "store was opened read-only", path: layout.root) }
        return try StoreWriter(store: self, options: options)
    }
}
