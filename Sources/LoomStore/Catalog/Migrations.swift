internal import GRDB

/// One schema step: a file in `schema/`, embedded in the binary by `tools/gen-schema`.
public struct Migration: Sendable {
    public let version: Int
    public let name: String
    public let sql: String
}

/// Applies `schema/*.sql` in order; `PRAGMA user_version` records the last one applied.
public enum Migrations {
    public static var latestVersion: Int { embedded.last?.version ?? 0 }

    /// Brings the catalog to ``latestVersion``, one transaction per migration.
    /// - Throws: `StoreError.schema` when the catalog was written by a newer loom.
    static func migrate(_ writer: some DatabaseWriter, path: String) throws {
        try writer.writeWithoutTransaction { db in
            let current = try Int.fetchOne(db, sql: "PRAGMA user_version") ?? 0
            guard current <= latestVersion else {
                throw StoreError(.schema, "catalog schema version \(current) is newer than this loom understands (\(latestVersion)); upgrade loom", path: path)
            }
            for migration in embedded where migration.version > current {
                try db.inTransaction {
                    try db.execute(sql: migration.sql)
                    try db.execute(sql: "PRAGMA user_version = \(migration.version)")
                    return .commit
                }
            }
        }
    }

    /// For read-only opens: the catalog must already be at the version this loom expects.
    static func check(_ reader: some DatabaseReader, path: String) throws {
        let current = try reader.read { db in try Int.fetchOne(db, sql: "PRAGMA user_version") ?? 0 }
        guard current == latestVersion else {
            throw StoreError(.schema, "catalog schema version \(current), this loom expects \(latestVersion); run a writing command (e.g. loom ingest) with this loom to migrate", path: path)
        }
    }
}
