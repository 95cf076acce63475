/// The catalog boundary: everything above LoomStore reads and writes the catalog through these
/// protocols, with plain Swift values (records, ids, digests) and ``CodedError``s, never SQL or
/// GRDB types. The embedded implementation is SQLite (Sources/LoomStore/SQLite); a PostgreSQL
/// one adds conforming types and nothing above this line changes.
///
/// Reading and writing are separate types, as GRDB separates `DatabaseReader` from
/// `DatabaseWriter`: anyone holding a ``Store`` gets a ``CatalogReader``; only the holder of the
/// store's writer lock (``StoreWriter``) can open a ``CatalogTransaction``, the one place write
/// methods exist. Each write repository refines its read repository, so a transaction also reads
/// what it has written so far.

/// Opens consistent read views of the catalog. Safe to share across threads.
public protocol CatalogReader: Sendable {
    /// Runs `body` on one snapshot: every repository it reads sees the same committed state.
    /// The snapshot is valid inside `body` only.
    func read<T>(_ body: (any CatalogSnapshot) throws -> T) throws -> T
}

/// Opens write transactions on the catalog. Only the holder of the store's writer lock has one
/// (``StoreWriter``), which is what keeps the catalog to one writer at a time.
public protocol CatalogWriter: AnyObject {
    /// Runs `body` in one transaction: everything it writes commits together, or nothing does
    /// when it throws.
    @discardableResult
    func transaction<T>(_ body: (any CatalogTransaction) throws -> T) throws -> T
}

/// The read repositories over one consistent state of the catalog.
public protocol CatalogSnapshot {
    var datasets: any DatasetReading { get }
    var blobs: any BlobReading { get }
    var samples: any SampleReading { get }
    var captions: any CaptionReading { get }
    var prompts: any PromptReading { get }
    var synthetic: any SyntheticReading { get }
    var jobs: any JobReading { get }
    var runs: any RunReading { get }
    var training: any TrainingReading { get }
    var pixelCache: any PixelCacheReading { get }
    var lineage: any LineageReading { get }
    var info: any CatalogInfoReading { get }
}

/// The write repositories inside one catalog transaction: everything done through them commits
/// together or not at all. Only ``StoreWriter/transaction(_:)`` makes one.
public protocol CatalogTransaction {
    /// Read-only view of the same transaction, for helpers that only read.
    var snapshot: any CatalogSnapshot { get }
    /// Catalog ids of the blobs this transaction's commit inserted, by digest.
    var newBlobIDs: [Digest: Int64] { get }

    var datasets: any DatasetWriting { get }
    var captions: any CaptionWriting { get }
    var prompts: any PromptWriting { get }
    var synthetic: any SyntheticWriting { get }
    var jobs: any JobWriting { get }
    var runs: any RunWriting { get }
    var training: any TrainingWriting { get }
    var pixelCache: any PixelCacheWriting { get }
}
