import Dispatch
import Foundation
import GRDB
@testable import LoomStore
import LoomTestSupport
import Synchronization
import Testing

/// User SQL (`loom sql`, `/v1/sql`) reads the catalog's own tables and views and nothing else,
/// within a time limit, on connections of its own.
@Suite("User SQL guard", .tags(.hardening))
struct HardeningSQLTests {
    /// A statement that never ends on its own: a recursive CTE counted to infinity.
    static let forever = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT count(*) FROM c"

    /// Runs `sql` and returns its rows as text, or the StoreError it failed with.
    static func query(_ store: Store, _ sql: String, timeout: Duration = .seconds(30)) -> Result<[[String]], StoreError> {
        var rows: [[String]] = []
        do {
            try ReadOnlyQuery.run(store, sql: sql, timeout: timeout, columns: { _ in }, row: { rows.append($0.map(\.description)) })
            return .success(rows)
        } catch let error as StoreError {
            return .failure(error)
        } catch {
            return .failure(StoreError(.io, "unexpected \(error)"))
        }
    }

    static func refusal(_ store: Store, _ sql: String) throws -> StoreError {
        switch query(store, sql) {
        case .success(let rows): throw StoreError(.io, "\(sql) was answered (\(rows)) instead of refused")
        case .failure(let error): return error
        }
    }

    @Test("ATTACH is refused before any file is opened (same answer for a database, a system file and a missing path), and nothing stays attached")
    func attachRefused() throws {
        let scratch = try ScratchStore()
        let other = scratch.directory.appending("other.sqlite")
        try DatabaseQueue(path: other).write { try $0.execute(sql: "CREATE TABLE secret (x); INSERT INTO secret VALUES ('hidden')") }
        let reader = try scratch.reopen()

        var messages: [String] = []
        for path in [other, "/etc/shadow", scratch.directory.appending("missing.sqlite")] {
            let error = try Self.refusal(reader, "ATTACH DATABASE '\(path)' AS x")
            #expect(error.code == .invalidArgument)
            #expect(error.message.contains("ATTACH") && error.message.contains("read-only"), "\(error.message)")
            messages.append(error.message.replacingOccurrences(of: path, with: "PATH"))
        }
        #expect(Set(messages).count == 1, "the answer must not tell which files exist: \(messages)")
        #expect(!FileManager.default.fileExists(atPath: scratch.directory.appending("missing.sqlite")))
        for statement in ["VACUUM INTO '\(scratch.directory.appending("copy.sqlite"))'", "DETACH DATABASE main"] {
            let error = try Self.refusal(reader, statement)
            #expect(error.code == .invalidArgument && error.message.contains("refused"), "\(statement): \(error.message)")
        }
        #expect(!FileManager.default.fileExists(atPath: scratch.directory.appending("copy.sqlite")))

        // A later statement sees no `x`, nor does the API's own connection pool.
        let later = try Self.refusal(reader, "SELECT * FROM x.secret")
        #expect(later.message.contains("x.secret") || later.message.contains("unknown database"), "\(later.message)")
        let schemas = try reader.catalog.read { db in try String.fetchAll(db, sql: "SELECT name FROM pragma_database_list") }
        #expect(!schemas.contains("x"), "\(schemas)")
        #expect(try Self.query(reader, "SELECT count(*) FROM blobs").get() == [["0"]])
    }

    @Test("functions that hand out pointers or load code are refused by name")
    func dangerousFunctions() throws {
        let scratch = try ScratchStore()
        let reader = try scratch.reopen()
        for (sql, name) in [("SELECT fts3_tokenizer('simple')", "fts3_tokenizer"),
                            ("SELECT hex(fts3_tokenizer('simple'))", "fts3_tokenizer"),
                            ("SELECT load_extension('/tmp/evil.so')", "load_extension")] {
            let error = try Self.refusal(reader, sql)
            #expect(error.code == .invalidArgument && error.message.contains(name), "\(sql): \(error.message)")
        }
        #expect(try Self.query(reader, "SELECT upper('a'), json_extract('{\"k\": 2}', '$.k'), abs(-3)").get() == [["A", "2", "3"]])
    }

    @Test("pragmas: a read-only allow-list answers; the rest, and every assignment, is refused by name")
    func pragmas() throws {
        let scratch = try ScratchStore()
        let reader = try scratch.reopen()
        for allowed in ["PRAGMA user_version", "PRAGMA table_info(blobs)", "PRAGMA main.table_info('real_images')",
                        "PRAGMA index_list(blobs)", "PRAGMA foreign_key_list(real_images)", "PRAGMA page_count",
                        "SELECT name FROM pragma_table_info('blobs')"] {
            let rows = try Self.query(reader, allowed).get()
            #expect(!rows.isEmpty, "\(allowed)")
        }
        for (refused, name) in [("PRAGMA database_list", "database_list"), ("PRAGMA user_version = 99", "user_version"),
                                ("PRAGMA journal_mode", "journal_mode"), ("PRAGMA writable_schema = 1", "writable_schema"),
                                ("PRAGMA query_only = 0", "query_only"), ("PRAGMA temp_store = memory", "temp_store"),
                                ("SELECT * FROM pragma_database_list", "database_list"), ("PRAGMA cache_size = -1000000", "cache_size")] {
            let error = try Self.refusal(reader, refused)
            #expect(error.code == .invalidArgument && error.message.contains(name), "\(refused): \(error.message)")
        }
    }

    @Test("reads: the catalog's tables, views, sqlite_schema and json_each; not dbstat, sqlite_stmt or the temp schema")
    func reads() throws {
        let scratch = try ScratchStore()
        let reader = try scratch.reopen()
        for allowed in ["SELECT count(*) FROM sqlite_master", "SELECT name FROM sqlite_schema WHERE type = 'view'",
                        "SELECT count(*) FROM v_real_images", "SELECT count(*) FROM real_images r JOIN blobs b ON b.id = r.blob_id",
                        "SELECT value FROM json_each('[1, 2]')", "SELECT 1 WHERE EXISTS (SELECT 1 FROM datasets)",
                        "EXPLAIN QUERY PLAN SELECT * FROM blobs", "WITH c(x) AS (VALUES (1)) SELECT count(*) FROM c",
                        "SELECT count(*) FROM (SELECT 1 UNION SELECT 2)"] {
            if case .failure(let error) = Self.query(reader, allowed) { Issue.record("\(allowed): \(error)") }
        }
        for (refused, name) in [("SELECT * FROM dbstat", "dbstat"), ("SELECT * FROM sqlite_stmt", "sqlite_stmt"),
                                ("SELECT * FROM sqlite_temp_master", "sqlite_temp_master"), ("BEGIN", "BEGIN"),
                                ("SELECT 1; SELECT 2", "one statement"), ("", "no SQL statement"),
                                ("UPDATE sqlite_master SET sql = ''", "may not be modified"), ("REINDEX", "REINDEX")] {
            let error = try Self.refusal(reader, refused)
            #expect(error.code == .invalidArgument && error.message.contains(name), "\(refused): \(error.message)")
        }
    }

    @Test("huge values are refused at SQLite's length limit instead of allocated")
    func hugeValues() throws {
        let scratch = try ScratchStore()
        let reader = try scratch.reopen()
        for sql in ["SELECT length(randomblob(1000000000))", "SELECT length(zeroblob(1000000000))",
                    "WITH RECURSIVE c(s) AS (SELECT 'xxxxxxxx' UNION ALL SELECT s || s FROM c) SELECT length(s) FROM c"] {
            let error = try Self.refusal(reader, sql)
            #expect(error.code == .invalidArgument && error.message.contains("too big"), "\(sql): \(error.message)")
        }
        #expect(try Self.query(reader, "SELECT length(randomblob(1000000))").get() == [["1000000"]])
    }

    @Test("a statement that runs past its time limit stops with timed-out; time spent in the row callback does not count")
    func timeLimit() throws {
        let scratch = try ScratchStore()
        let reader = try scratch.reopen()
        let error = try #require(throws: StoreError.self) {
            try ReadOnlyQuery.run(reader, sql: Self.forever, timeout: .milliseconds(300), columns: { _ in }, row: { _ in })
        }
        #expect(error.code == .timedOut && error.message.contains("--sql-timeout"), "\(error.code): \(error.message)")

        // A reader that takes its time (a pager, a slow pipe) is not the statement's time.
        var rows = 0
        try ReadOnlyQuery.run(reader, sql: "VALUES (1), (2), (3)", timeout: .milliseconds(200), columns: { _ in },
                              row: { _ in rows += 1; Thread.sleep(forTimeInterval: 0.25) })
        #expect(rows == 3)
    }

    @Test("the pool caps concurrent statements (busy past the cap), a stop from another thread ends a running one and frees its slot")
    func poolCapAndStop() throws {
        let scratch = try ScratchStore()
        let reader = try scratch.reopen()
        let pool = UserQueryPool(capacity: 1, timeout: .seconds(3600))
        let control = QueryControl()
        let outcome = Outcome()
        let finished = DispatchSemaphore(value: 0)
        Thread {
            do {
                try pool.reserve().run(reader, sql: Self.forever, control: control, columns: { _ in }, row: { _ in })
            } catch {
                outcome.error.withLock { $0 = error as? StoreError }
            }
            finished.signal()
        }.start()
        let deadline = Date().addingTimeInterval(30)
        while pool.running == 0 && Date() < deadline { usleep(10_000) }
        #expect(pool.running == 1)

        let busy = try #require(throws: StoreError.self) {
            try pool.reserve().run(reader, sql: "SELECT 1", control: QueryControl(), columns: { _ in }, row: { _ in })
        }
        #expect(busy.code == .busy, "\(busy)")

        control.stop(.clientGone)
        #expect(finished.wait(timeout: .now() + 30) == .success, "the stopped statement must end")
        let stopped = try #require(outcome.error.withLock { $0 })
        #expect(stopped.code == .cancelled, "\(stopped)")
        #expect(pool.running == 0)
        var answered = false
        try pool.reserve().run(reader, sql: "SELECT 1", control: QueryControl(), columns: { _ in }, row: { _ in answered = true })
        #expect(answered)

        // A control stopped before its statement starts stops it at once.
        let early = QueryControl()
        early.stop(.shutdown)
        let refused = try #require(throws: StoreError.self) {
            try pool.reserve().run(reader, sql: Self.forever, control: early, columns: { _ in }, row: { _ in })
        }
        #expect(refused.code == .cancelled && refused.message.contains("shutting down"), "\(refused)")
    }
}

/// What a statement on another thread ended with.
private final class Outcome: Sendable {
    let error = Mutex<StoreError?>(nil)
}
