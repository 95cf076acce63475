/// Facts about the catalog as a whole.
public protocol CatalogInfoReading {
    /// The schema version (`PRAGMA user_version` on SQLite).
    func schemaVersion() throws -> Int
    /// A value that every write to the tables a loader's sample table is read from changes
    /// (real and synthetic images, prompts, blobs, the pixel cache, classes, splits, datasets),
    /// so a saved sample table read at the same token is current. Nil where the catalog keeps
    /// none (PostgreSQL: see schema/postgres/0006_catalog_token.sql).
    func changeToken() throws -> Int64?
}
