import Foundation
import GRDB
@testable import LoomStore
import LoomTestSupport
import Synchronization
import Testing

/// Runs `body` on `count` threads at once; the first error thrown is rethrown.
func concurrently(_ count: Int, _ body: @Sendable (Int) throws -> Void) throws {
    let failure = Mutex<(any Error)?>(nil)
    DispatchQueue.concurrentPerform(iterations: count) { index in
        do { try body(index) } catch { failure.withLock { $0 = $0 ?? error } }
    }
    if let error = failure.withLock({ $0 }) { throw error }
}

/// What the PostgreSQL catalog does beyond the shared contract: migrations, many writers at
/// once, errors that name the server, and the synchronous bridge under a busy cooperative pool.
@Suite("PostgreSQL catalog", .enabled(if: PostgresServer.unavailableReason == nil, "\(PostgresServer.unavailableReason ?? "")"))
struct PostgresCatalogTests {
    static let repositoryRoot = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    @Test("embedded migrations equal schema/postgres/*.sql, version for version with schema/*.sql")
    func embeddedMatchesFiles() throws {
        let folder = Self.repositoryRoot.appendingPathComponent("schema/postgres")
        let names = try FileManager.default.contentsOfDirectory(atPath: folder.path).filter { $0.hasSuffix(".sql") }.sorted()
        #expect(PostgresMigrations.embedded.map(\.name) == names, "run tools/gen-schema")
        for (name, migration) in zip(names, PostgresMigrations.embedded) {
            var text = try String(contentsOf: folder.appendingPathComponent(name), encoding: .utf8)
            while text.unicodeScalars.last == "\n" { text.unicodeScalars.removeLast() }
            #expect(Array(migration.sql.utf8) == Array(text.utf8), "embedded \(name) differs from the file: run tools/gen-schema")
        }
        #expect(PostgresMigrations.embedded.map(\.name) == Migrations.embedded.map(\.name))
        #expect(PostgresMigrations.latestVersion == Migrations.latestVersion)
    }

    @Test("migrations split into statements; quotes, comments and $$ bodies do not split")
    func statements() {
        let sql = """
            -- a comment; not a statement
            CREATE FUNCTION f() RETURNS TEXT LANGUAGE sql AS $$ SELECT 'a;b' $$;
            CREATE TABLE "odd;name" (x TEXT DEFAULT ';');

            """
        #expect(PostgresMigrations.statements(sql) == [
            "-- a comment; not a statement\nCREATE FUNCTION f() RETURNS TEXT LANGUAGE sql AS $$ SELECT 'a;b' $$",
            #"CREATE TABLE "odd;name" (x TEXT DEFAULT ';')"#,
        ])
    }

    @Test("the tables and views, with their columns in order, are SQLite's")
    func sameTablesAsSQLite() throws {
        let directory = try TemporaryDirectory(prefix: "loom-pg-schema-")
        let store = try Store(StoreLayout(root: directory.appending("store")), access: .readWrite)
        let sqlite = try store.catalog.read { db in
            try String.fetchAll(db, sql: """
                SELECT m.name || '.' || p.name FROM sqlite_master m, pragma_table_info(m.name) p
                WHERE m.type IN ('table', 'view') AND m.name NOT LIKE 'sqlite_%'
                  AND m.name <> 'catalog_token'  -- SQLite's alone (schema/postgres/0006_catalog_token.sql says why)
                ORDER BY m.name, p.cid
                """)
        }
        let catalog = try PostgresCatalog(try PostgresServer.shared().makeDatabase())
        var postgres: [String] = []
        try PostgresReadOnlyQuery.run(catalog, sql: """
            SELECT table_name || '.' || column_name FROM information_schema.columns
            WHERE table_schema = 'public' AND table_name <> 'loom_migrations' ORDER BY table_name COLLATE "C", ordinal_position
            """, columns: { _ in }, row: { postgres.append($0[0].description) })
        #expect(!sqlite.isEmpty && postgres == sqlite)
    }

    @Test("opening migrates once, however many processes start at once; a read-only open checks the version")
    func migrations() throws {
        let url = try PostgresServer.shared().makeDatabase()
        #expect(code { _ = try PostgresCatalog(url, migrate: false) } == .unavailable)  // empty: not migrated
        try concurrently(4) { _ in _ = try PostgresCatalog(url) }
        let catalog = try PostgresCatalog(url, migrate: false)
        #expect(try catalog.read { try $0.info.schemaVersion() } == PostgresMigrations.latestVersion)
    }

    @Test("two writers storing the same digest at once end with one row, which both commits name")
    func sameDigestFromTwoWriters() throws {
        let url = try PostgresServer.shared().makeDatabase()
        let catalogs = try (0..<2).map { _ in try PostgresCatalog(url) }
        let shards = try catalogs.enumerated().map { try $1.makeWriter().createShard(name: "writer-\($0)", formatVersion: 1) }
        let digest = Digest.sha256(Array("the same bytes".utf8))
        let ids = Mutex<[Int64]>([])
        try concurrently(2) { index in
            let location = BlobLocation(digest: digest, shardID: shards[index], offset: 16, storedSize: 14, rawSize: 14, codec: .raw)
            try catalogs[index].makeWriter().commit(blobs: [PostgresBlobRow(location: location, mediaType: "image/png")]) { tx in
                let id = try #require(tx.newBlobIDs[digest])
                _ = try tx.datasets.ensureDataset(named: "shared")  // get-or-create races too
                ids.withLock { $0.append(id) }
            }
        }
        let committed = ids.withLock { $0 }
        #expect(committed.count == 2 && Set(committed).count == 1)
        try catalogs[0].read { c throws in
            #expect(try c.blobs.blob(digest)?.id == committed[0])
            #expect(try c.datasets.datasetNames() == ["shared"])
        }
    }

    @Test("writers adding classes to one dataset at once never share a label")
    func concurrentClasses() throws {
        let url = try PostgresServer.shared().makeDatabase()
        let catalog = try PostgresCatalog(url)
        try concurrently(4) { index in
            try catalog.makeWriter().transaction { tx in
                let dataset = try tx.datasets.ensureDataset(named: "pets")
                _ = try tx.datasets.ensureClasses(of: dataset, wnids: [ExactName("class-\(index)"), ExactName("common")], names: [:])
            }
        }
        let classes = try catalog.read { c in try c.datasets.classes(of: try c.datasets.requireDataset(named: "pets").id) }
        #expect(classes.count == 5 && classes.map(\.label) == Array(0..<5))
    }

    @Test("reads from more tasks than the cooperative pool has threads all finish (the bridge never needs the pool)")
    func manyBlockingReadsFromTasks() async throws {
        let catalog = try PostgresCatalog(try PostgresServer.shared().makeDatabase())
        let total = try await withThrowingTaskGroup(of: Int.self) { group in
            for _ in 0..<(4 * ProcessInfo.processInfo.activeProcessorCount + 8) {
                group.addTask { try catalog.read { c in try c.runs.count() + c.datasets.datasetNames().count } }
            }
            return try await group.reduce(0, +)
        }
        #expect(total == 0)
    }

    @Test("a server that is not there, a wrong password and a missing database: coded errors naming host:port/database")
    func connectionErrors() throws {
        let server = try PostgresServer.shared()
        let name = try server.makeDatabase()
        let database = String(name.split(separator: "/").last!.split(separator: "?").first!)

        let closedPort = "postgresql://loom:x@127.0.0.1:1/\(database)?sslmode=disable&connect_timeout=5"
        let unreachable = #expect(throws: StoreError.self) { _ = try PostgresCatalog(closedPort) }
        #expect(unreachable?.errorCode == .unavailable && unreachable?.message.contains("127.0.0.1:1/\(database)") == true,
                "\(unreachable?.message ?? "")")

        let wrong = #expect(throws: StoreError.self) { _ = try PostgresCatalog(server.url(database: database, password: "wrong")) }
        #expect(wrong?.errorCode == .invalidInput && wrong?.message.contains("127.0.0.1:\(server.port)/\(database)") == true,
                "\(wrong?.message ?? "")")

        let missing = #expect(throws: StoreError.self) { _ = try PostgresCatalog(server.url(database: "no_such_catalog")) }
        #expect(missing?.code == .noStore && missing?.message.contains("no_such_catalog") == true, "\(missing?.message ?? "")")

        // Over the unix socket in the cluster's folder, as libpq's ?host= reads it.
        let socket = "postgresql://loom@/\(database)?host=\(server.folder)&port=\(server.port)"
        #expect(try PostgresCatalog(socket).read { try $0.info.schemaVersion() } == PostgresMigrations.latestVersion)
    }
}

@Suite("PostgreSQL catalog connections", .enabled(if: PostgresServer.unavailableReason == nil, "\(PostgresServer.unavailableReason ?? "")"))
struct PostgresConnectionTests {
    @Test("a pooled connection the server dropped is replaced: the next read and write succeed")
    func droppedConnections() throws {
        let catalog = try PostgresCatalog(try PostgresServer.shared().makeDatabase(prefix: "loom_dropped"))
        try catalog.makeWriter().transaction { _ = try $0.datasets.ensureDataset(named: "pets") }
        #expect(try catalog.read { try $0.datasets.datasetNames() } == ["pets"])
        // What a server restart does to idle connections: the test cluster's role may end other backends.
        var ended: [String] = []
        try PostgresReadOnlyQuery.run(catalog, sql: """
            SELECT pg_terminate_backend(pid) FROM pg_stat_activity
            WHERE datname = current_database() AND application_name = 'loom' AND pid <> pg_backend_pid()
            """, columns: { _ in }, row: { ended.append($0[0].description) })
        #expect(!ended.isEmpty && ended.allSatisfy { $0 == "1" })
        #expect(try catalog.read { try $0.datasets.datasetNames() } == ["pets"])
        try catalog.makeWriter().transaction { _ = try $0.datasets.ensureDataset(named: "birds") }
        #expect(try catalog.read { try $0.datasets.datasetNames() } == ["birds", "pets"])
    }
}

extension PostgresCatalogTests {
    @Test("writers committing overlapping blobs in opposite orders at once: every commit names all its blobs, each digest has one row")
    func overlappingBlobCommits() throws {
        let url = try PostgresServer.shared().makeDatabase()
        let catalog = try PostgresCatalog(url)
        let digests = (0..<200).map { Digest.sha256(Array("blob \($0)".utf8)) }
        let shards = try (0..<2).map { try catalog.makeWriter().createShard(name: "writer-\($0)", formatVersion: 1) }
        try concurrently(2) { index in
            let order = index == 0 ? digests : digests.reversed()
            let rows = order.enumerated().map { offset, digest in
                PostgresBlobRow(location: BlobLocation(digest: digest, shardID: shards[index], offset: 16 + offset * 64, storedSize: 7,
                                                       rawSize: 7, codec: .raw), mediaType: "image/jpeg")
            }
            for round in 0..<3 {
                let slice = Array(rows[(round * 50)..<(round * 50 + 100)])
                let ids = try catalog.makeWriter().commit(blobs: slice) { $0.newBlobIDs }
                #expect(ids.count == 100)
            }
        }
        let stored = try catalog.read { c in try digests.map { try #require(try c.blobs.blob($0)).id } }
        #expect(Set(stored).count == digests.count)
    }
}
