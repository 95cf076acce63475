import Foundation
internal import NIOCore
internal import PostgresNIO

/// `loom sql` on a PostgreSQL catalog: one user statement, read-only, under a time limit.
///
/// The guards, each enough on its own against writes, together against most mischief:
/// - a connection of its own, closed afterwards, so nothing the statement sets outlives it;
/// - a `READ ONLY` transaction, rolled back at the end: PostgreSQL refuses every write in it
///   (INSERT, UPDATE, DELETE, DDL, `nextval`, `COPY FROM`...);
/// - one statement only (the extended protocol takes one), and only a query: it must start
///   with SELECT, WITH, VALUES or TABLE, so COPY, SET, COMMIT, DO, CALL, LOCK and the like are
///   refused before the server sees them;
/// - `statement_timeout` (`SET LOCAL`) stops it inside the server past `timeout`.
/// Rows stream through a cursor, a page at a time. What PostgreSQL lets the URL's role read
/// (its system catalogs, functions such as `pg_read_file` for a superuser) it can read: give
/// `loom sql` a catalog URL whose role may do only what it should.
public enum PostgresReadOnlyQuery {
    /// Streams the rows of `sql` to `body`: the column names first (from the first row; an
    /// empty result has none, since postgres-nio does not hand out the row description alone),
    /// then one row at a time.
    /// - Throws: `StoreError` `.invalidArgument` for a refused statement or an SQL error,
    ///   `.timedOut` past `timeout`, `.cancelled` when `control` stopped it (between pages).
    public static func run(_ catalog: PostgresCatalog, sql: String, timeout: Duration = ReadOnlyQuery.defaultTimeout,
                           control: QueryControl = QueryControl(),
                           columns: ([String]) throws -> Void, row body: ([ReadOnlyQuery.Value]) throws -> Void) throws {
        if let reason = control.reason { throw StoreError(.cancelled, reason.message) }
        try check(sql)
        let connections = try PostgresConnections(url: catalog.url)
        defer { connections.close() }
        let milliseconds = max(1, timeout.components.seconds * 1000 + timeout.components.attoseconds / 1_000_000_000_000_000)
        try connections.withSession { session in
            try session.begin("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
            defer { _ = try? session.execute("ROLLBACK") }
            try session.execute(PostgresQuery(unsafeSQL: "SET LOCAL statement_timeout = \(milliseconds)"))
            var named = false
            do {
                try session.forEachRow(PostgresQuery(unsafeSQL: sql), pageSize: 500) { row in
                    if !named {
                        try columns((0..<row.count).map { row[$0].columnName })
                        named = true
                    }
                    try body((0..<row.count).map { value(row[$0]) })
                    if let reason = control.reason { throw StoreError(.cancelled, reason.message) }
                }
            } catch let error as StoreError where error.code == .timedOut {
                throw StoreError(.timedOut, "stopped after \(ReadOnlyQuery.seconds(timeout)) s: the statement ran past the SQL time limit (--sql-timeout)")
            } catch let error as StoreError where [.io, .schema, .conflict, .noStore].contains(error.code) {
                // The statement's own mistakes (syntax, an unknown table, a refused write).
                throw StoreError(.invalidArgument, "SQL error: \(error.message)")
            }
            if !named { try columns([]) }
        }
    }

    private static func refused(_ what: String) -> StoreError {
        StoreError(.invalidArgument, "refused: \(what) (SQL over the catalog is read-only: one SELECT, WITH, VALUES or TABLE statement)")
    }

    /// The statement must be a query: its first word, past blanks and comments.
    static func check(_ sql: String) throws {
        var rest = Substring(sql)
        while true {
            rest = rest.drop(while: \.isWhitespace)
            if rest.hasPrefix("--") {
                rest = rest.drop { $0 != "\n" }
            } else if rest.hasPrefix("/*") {
                guard let end = rest.range(of: "*/") else { throw refused("no SQL statement, only blanks or comments") }
                rest = rest[end.upperBound...]
            } else {
                break
            }
        }
        let word = rest.prefix { $0.isLetter }.uppercased()
        guard !word.isEmpty else { throw refused("no SQL statement, only blanks or comments") }
        guard ["SELECT", "WITH", "VALUES", "TABLE"].contains(word) else { throw refused("a \(word) statement") }
        if PostgresMigrations.statements(sql).count > 1 { throw refused("more than one statement (send one statement at a time)") }
    }

    /// ISO 8601 in UTC with milliseconds, the catalog's own timestamp form.
    private static let timestamp = Date.ISO8601FormatStyle(includingFractionalSeconds: true)

    /// A column as JSON carries it: integers, floats (numeric too), text, bytea as lowercase hex.
    static func value(_ cell: PostgresCell) -> ReadOnlyQuery.Value {
        guard cell.bytes != nil else { return .null }
        switch cell.dataType {
        case .int2, .int4, .int8:
            return (try? cell.decode(Int64.self)).map { .integer($0) } ?? .null
        case .bool:
            return (try? cell.decode(Bool.self)).map { .integer($0 ? 1 : 0) } ?? .null
        case .float4, .float8:
            return (try? cell.decode(Double.self)).map { .real($0) } ?? .null
        case .numeric:
            guard let decimal = try? cell.decode(Decimal.self) else { return .null }
            if let integer = Int64(exactly: NSDecimalNumber(decimal: decimal).doubleValue), Decimal(integer) == decimal {
                return .integer(integer)
            }
            return .real(NSDecimalNumber(decimal: decimal).doubleValue)
        case .bytea:
            guard let bytes = cell.bytes else { return .null }
            return .blob(bytes.readableBytesView.withUnsafeBytes { ReadOnlyQuery.hex($0) })
        case .oid:
            guard let bytes = cell.bytes, let oid = bytes.getInteger(at: bytes.readerIndex, as: UInt32.self) else { return .null }
            return .integer(Int64(oid))
        case .timestamp, .timestamptz, .date:
            return (try? cell.decode(Date.self)).map { .text(timestamp.format($0)) } ?? .null
        case .text, .varchar, .bpchar, .name, .json, .jsonb, .uuid:
            return (try? cell.decode(String.self)).map { .text($0) } ?? .null
        default:
            // Other types arrive in their binary form: text when it reads as text, else hex bytes.
            guard let bytes = cell.bytes else { return .null }
            let view = bytes.readableBytesView
            if let text = String(validating: view, as: UTF8.self),
               !text.unicodeScalars.contains(where: { $0.value < 0x20 && $0 != "\n" && $0 != "\t" && $0 != "\r" }) {
                return .text(text)
            }
            return .blob(view.withUnsafeBytes { ReadOnlyQuery.hex($0) })
        }
    }
}
