internal import GRDB

/// The embedded catalog behind the repository protocols: one SQLite file in WAL mode (see
/// ``Catalog``), read through the pool's reader connections, written only inside
/// ``StoreWriter``'s commit. Every type here is internal: callers see the protocols only.
///
/// Each repository comes as a reader and a writer type sharing their queries through an internal
/// `SQLite...Queries` protocol, so a snapshot hands out values that have no write methods at all
/// (a cast cannot find any), while a transaction's writers read what it wrote so far.
struct SQLiteCatalogReader: CatalogReader {
    let pool: DatabasePool

    func read<T>(_ body: (any CatalogSnapshot) throws -> T) throws -> T {
        try pool.read { db in try body(SQLiteSnapshot(db: db)) }
    }
}

/// A connection for the length of one read (or one transaction); valid only in its closure.
protocol SQLiteRepository {
    var db: Database { get }
}

struct SQLiteSnapshot: CatalogSnapshot {
    let db: Database

    var datasets: any DatasetReading { SQLiteDatasetReader(db: db) }
    var blobs: any BlobReading { SQLiteBlobReader(db: db) }
    var samples: any SampleReading { SQLiteSampleReader(db: db) }
    var captions: any CaptionReading { SQLiteCaptionReader(db: db) }
    var prompts: any PromptReading { SQLitePromptReader(db: db) }
    var synthetic: any SyntheticReading { SQLiteSyntheticReader(db: db) }
    var jobs: any JobReading { SQLiteJobReader(db: db) }
    var runs: any RunReading { SQLiteRunReader(db: db) }
    var training: any TrainingReading { SQLiteTrainingReader(db: db) }
    var pixelCache: any PixelCacheReading { SQLitePixelCacheReader(db: db) }
    var lineage: any LineageReading { SQLiteLineageReader(db: db) }
    var info: any CatalogInfoReading { SQLiteInfoReader(db: db) }
}

struct SQLiteTransaction: CatalogTransaction {
    let db: Database
    let newBlobIDs: [Digest: Int64]

    var snapshot: any CatalogSnapshot { SQLiteSnapshot(db: db) }
    var datasets: any DatasetWriting { SQLiteDatasetWriter(db: db) }
    var captions: any CaptionWriting { SQLiteCaptionWriter(db: db) }
    var prompts: any PromptWriting { SQLitePromptWriter(db: db) }
    var synthetic: any SyntheticWriting { SQLiteSyntheticWriter(db: db) }
    var jobs: any JobWriting { SQLiteJobWriter(db: db) }
    var runs: any RunWriting { SQLiteRunWriter(db: db) }
    var training: any TrainingWriting { SQLiteTrainingWriter(db: db) }
    var pixelCache: any PixelCacheWriting { SQLitePixelCacheWriter(db: db) }
}

struct SQLiteInfoReader: CatalogInfoReading, SQLiteRepository {
    let db: Database
    func schemaVersion() throws -> Int { try Int.fetchOne(db, sql: "PRAGMA user_version") ?? 0 }
    func changeToken() throws -> Int64? { try Int64.fetchOne(db, sql: "SELECT token FROM catalog_token WHERE id = 1") }
}
