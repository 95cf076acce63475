import LoomStore
import LoomTestSupport
import Testing

@Suite("PostgreSQL read-only SQL", .enabled(if: PostgresServer.unavailableReason == nil, "\(PostgresServer.unavailableReason ?? "")"))
struct PostgresReadOnlyQueryTests {
    /// A catalog with one dataset and one run, and the rows `sql` gives (or the error's code and message).
    static func run(_ sql: String, timeout: Duration = .seconds(5), catalog: PostgresCatalog? = nil) throws -> (columns: [String], rows: [[String]]) {
        let catalog = try catalog ?? fixture()
        var columns: [String] = [], rows: [[String]] = []
        try PostgresReadOnlyQuery.run(catalog, sql: sql, timeout: timeout, columns: { columns = $0 }, row: { rows.append($0.map(\.description)) })
        return (columns, rows)
    }

    static func fixture() throws -> PostgresCatalog {
        let catalog = try PostgresCatalog(try PostgresServer.shared().makeDatabase(prefix: "loom_sql"))
        try catalog.makeWriter().transaction { tx in
            let dataset = try tx.datasets.ensureDataset(named: "pets")
            _ = try tx.runs.begin(stage: .ingest, datasetID: dataset, parentID: nil, config: "{}")
        }
        return catalog
    }

    @Test("a query streams its columns and rows, numbers as numbers, bytea as hex")
    func reads() throws {
        let result = try Self.run("SELECT d.name, count(r.id) AS runs, sum(r.id) AS total, 1.5::float8 AS half, '\\x0aff'::bytea AS b FROM datasets d JOIN runs r ON r.dataset_id = d.id GROUP BY d.name")
        #expect(result.columns == ["name", "runs", "total", "half", "b"])
        #expect(result.rows == [["pets", "1", "1", "1.5", "x'0aff'"]])
        let views = try Self.run("SELECT count(*) FROM v_real_images")
        #expect(views.rows == [["0"]])
        let typed = try Self.run("SELECT '2026-12-01 13:40:00.5+00'::timestamptz AS t, 26::oid AS o, 'a'::name AS n, NULL::text AS z")
        #expect(typed.rows == [["2026-12-01T13:40:00.500Z", "26", "a", "NULL"]])
    }

    @Test("writes, other statements and two statements are refused as invalid input; nothing changes")
    func refuses() throws {
        let catalog = try Self.fixture()
        for sql in ["INSERT INTO datasets (name) VALUES ('x')", "  -- note\n DELETE FROM runs", "SET statement_timeout = 0",
                    "COPY datasets TO '/tmp/x'", "COMMIT", "SELECT 1; DELETE FROM runs", "/* only a comment */",
                    "WITH gone AS (DELETE FROM runs RETURNING id) SELECT count(*) FROM gone",
                    "SELECT nextval(pg_get_serial_sequence('runs', 'id'))", "SELECT * FROM no_such_table"] {
            let error = #expect(throws: StoreError.self, "\(sql)") { _ = try Self.run(sql, catalog: catalog) }
            #expect(error?.errorCode == .invalidInput, "\(sql): \(error.map { "\($0.code.rawValue) \($0.message)" } ?? "")")
        }
        #expect(try Self.run("SELECT count(*) FROM runs", catalog: catalog).rows == [["1"]])
        #expect(try Self.run("SELECT count(*) FROM datasets", catalog: catalog).rows == [["1"]])
    }

    @Test("a statement past its time limit is stopped inside the server: timed-out")
    func timeLimit() throws {
        let error = #expect(throws: StoreError.self) { _ = try Self.run("SELECT pg_sleep(30)", timeout: .milliseconds(200)) }
        #expect(error?.code == .timedOut && error?.message.contains("0.2 s") == true, "\(error?.message ?? "")")
    }
}
