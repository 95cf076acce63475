import Foundation
import GRDB
@testable import LoomStore
import Testing

@Suite("Schema")
struct SchemaTests {
    static let repositoryRoot = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    @Test("embedded migrations equal schema/*.sql")
    func embeddedMatchesFiles() throws {
        let schema = Self.repositoryRoot.appendingPathComponent("schema")
        let names = try FileManager.default.contentsOfDirectory(atPath: schema.path).filter { $0.hasSuffix(".sql") }.sorted()
        try #require(!names.isEmpty, "no schema/*.sql found under \(schema.path)")
        let embedded = Migrations.embedded
        #expect(embedded.map(\.name) == names,
                "Schema+Migrations.swift embeds \(embedded.map(\.name)), schema/ holds \(names): run tools/gen-schema")
        for (name, migration) in zip(names, embedded) {
            var text = try String(contentsOf: schema.appendingPathComponent(name), encoding: .utf8)
            while text.unicodeScalars.last == "\n" { text.unicodeScalars.removeLast() }
            // Byte-wise (String == would treat canonically equivalent text as equal).
            let same = Array(migration.sql.utf8) == Array(text.utf8)
            #expect(same, "embedded SQL of \(name) differs from schema/\(name) (\(Self.firstDifference(migration.sql, text))): run tools/gen-schema")
            #expect(migration.version == Int(name.prefix { $0.isNumber }),
                    "\(name) is embedded as version \(migration.version): run tools/gen-schema")
        }
        let versions = embedded.map(\.version)
        #expect(versions == versions.sorted() && Set(versions).count == versions.count, "versions \(versions)")
        #expect(Migrations.latestVersion == versions.last)
    }

    /// "line N: embedded `...`, file `...`" for the first line that differs.
    static func firstDifference(_ embedded: String, _ file: String) -> String {
        let a = embedded.split(separator: "\n", omittingEmptySubsequences: false)
        let b = file.split(separator: "\n", omittingEmptySubsequences: false)
        for i in 0..<max(a.count, b.count) {
            let x = i < a.count ? String(a[i]) : "<end>", y = i < b.count ? String(b[i]) : "<end>"
            if Array(x.utf8) != Array(y.utf8) { return "line \(i + 1): embedded `\(x)`, file `\(y)`" }
        }
        return "no line differs"
    }

    @Test("a new catalog is migrated to the latest version")
    func freshCatalog() throws {
        let scratch = try ScratchStore()
        let (version, journal, foreignKeys, tables) = try scratch.store.catalog.read { db in
            (try Int.fetchOne(db, sql: "PRAGMA user_version"), try String.fetchOne(db, sql: "PRAGMA journal_mode"),
             try Int.fetchOne(db, sql: "PRAGMA foreign_keys"),
             try String.fetchAll(db, sql: "SELECT name FROM sqlite_master WHERE type IN ('table', 'view') ORDER BY name"))
        }
        #expect(version == Migrations.latestVersion)
        #expect(journal == "wal")
        #expect(foreignKeys == 1)
        for expected in ["blobs", "classes", "datasets", "real_images", "runs", "shards", "splits", "v_blob_refs", "v_real_images"] {
            #expect(tables.contains(expected), "catalog lacks \(expected)")
        }
        // Opening again does not re-run the migrations (they would fail on existing tables).
        _ = try scratch.reopen(.readWrite)
        _ = try scratch.reopen(.readOnly)
    }

    @Test("a catalog from a newer loom is refused")
    func newerCatalog() throws {
        let scratch = try ScratchStore()
        try scratch.store.catalog.write { db in try db.execute(sql: "PRAGMA user_version = \(Migrations.latestVersion + 1)") }
        let writeError = #expect(throws: StoreError.self) { try scratch.reopen(.readWrite) }
        #expect(writeError?.code == .schema)
        let readError = #expect(throws: StoreError.self) { try scratch.reopen(.readOnly) }
        #expect(readError?.code == .schema)
    }
}
