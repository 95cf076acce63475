import Foundation
internal import PostgresNIO

/// Applies `schema/postgres/*.sql` in order (embedded by `tools/gen-schema`); the table
/// `loom_migrations` records each version applied. Versions match SQLite's `schema/*.sql` one
/// for one, so ``CatalogInfoReading/schemaVersion()`` means the same on both backends.
enum PostgresMigrations {
    static var latestVersion: Int { embedded.last?.version ?? 0 }

    /// The lock every migrating process takes first (an arbitrary constant: "loom" in ASCII).
    private static let lockKey: Int64 = 0x6C6F_6F6D

    /// Brings the catalog to ``latestVersion`` in one transaction, so a catalog is never half
    /// migrated, and under an advisory lock, so processes starting at once migrate it once.
    /// - Throws: `StoreError.schema` when the catalog was written by a newer loom.
    static func migrate(_ session: PostgresSession) throws {
        try session.transaction("BEGIN ISOLATION LEVEL READ COMMITTED") {
            try session.execute("SELECT pg_advisory_xact_lock(\(lockKey))")
            try session.execute("""
                CREATE TABLE IF NOT EXISTS loom_migrations (
                    version    BIGINT PRIMARY KEY,
                    name       TEXT NOT NULL,
                    applied_at TEXT NOT NULL DEFAULT to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')
                )
                """)
            let current = try version(session)
            guard current <= latestVersion else { throw newer(current, session) }
            for migration in embedded where migration.version > current {
                for statement in statements(migration.sql) { try session.execute(PostgresQuery(unsafeSQL: statement)) }
                try session.execute("INSERT INTO loom_migrations (version, name) VALUES (\(migration.version), \(migration.name))")
            }
        }
    }

    /// For read-only opens: the catalog must already be at the version this loom expects.
    static func check(_ session: PostgresSession) throws {
        let exists = try session.scalar("SELECT to_regclass('loom_migrations') IS NOT NULL", as: Bool.self) ?? false
        let current = exists ? try version(session) : 0
        guard current <= latestVersion else { throw newer(current, session) }
        guard current == latestVersion else {
            throw StoreError(.schema, "catalog at \(session.endpoint) has schema version \(current), this loom expects \(latestVersion); run a writing command (e.g. loom ingest) with this loom to migrate")
        }
    }

    static func version(_ session: PostgresSession) throws -> Int {
        try session.scalar("SELECT coalesce(max(version), 0) FROM loom_migrations", as: Int.self) ?? 0
    }

    private static func newer(_ current: Int, _ session: PostgresSession) -> StoreError {
        StoreError(.schema, "catalog at \(session.endpoint) has schema version \(current), newer than this loom understands (\(latestVersion)); upgrade loom")
    }

    /// Splits a migration into its statements: postgres-nio speaks only the extended protocol,
    /// which takes one statement at a time. Semicolons inside quotes, quoted names, comments and
    /// `$tag$` bodies do not split.
    static func statements(_ sql: String) -> [String] {
        var result: [String] = [], current = ""
        let characters = Array(sql)
        var index = 0
        func flush() {
            let statement = current.trimmingCharacters(in: .whitespacesAndNewlines)
            if statement.contains(where: { !$0.isWhitespace }), !isOnlyComments(statement) { result.append(statement) }
            current = ""
        }
        while index < characters.count {
            let character = characters[index]
            if character == "-", index + 1 < characters.count, characters[index + 1] == "-" {
                while index < characters.count, characters[index] != "\n" { current.append(characters[index]); index += 1 }
                continue
            }
            if character == "'" || character == "\"" {
                current.append(character)
                index += 1
                while index < characters.count {
                    current.append(characters[index])
                    index += 1
                    if characters[index - 1] == character { break }
                }
                continue
            }
            if character == "$", let tagEnd = characters[(index + 1)...].firstIndex(of: "$"),
               characters[(index + 1)..<tagEnd].allSatisfy({ $0.isLetter || $0.isNumber || $0 == "_" }) {
                let tag = String(characters[index...tagEnd])
                current += tag
                index = tagEnd + 1
                let rest = String(characters[index...])
                let end = rest.range(of: tag).map { rest.distance(from: rest.startIndex, to: $0.upperBound) } ?? rest.count
                current += rest.prefix(end)
                index += end
                continue
            }
            if character == ";" {
                flush()
                index += 1
                continue
            }
            current.append(character)
            index += 1
        }
        flush()
        return result
    }

    private static func isOnlyComments(_ text: String) -> Bool {
        text.split(separator: "\n").allSatisfy { $0.trimmingCharacters(in: .whitespaces).hasPrefix("--") }
    }
}
