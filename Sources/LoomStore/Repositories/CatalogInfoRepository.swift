/// Facts about the catalog as a whole.
public protocol CatalogInfoReading {
    /// The schema version (`PRAGMA user_version` on SQLite).
    func schemaVersion() throws -> Int
}
