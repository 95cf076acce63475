internal import GRDBSQLite

/// Runs one user SQL statement over the catalog (`loom sql`, `/v1/sql`).
///
/// The statement runs on a connection of its own (``UserQueryConnection``), opened
/// `SQLITE_OPEN_READONLY` and closed afterwards, under three guards: an authorizer
/// (``SQLAuthorizer``) that lets it read the catalog's own tables and views and nothing else,
/// SQLite's read-only verdict (`sqlite3_stmt_readonly`), and a time limit counted inside SQLite.
public enum ReadOnlyQuery {
    /// The time limit when none is given (`--sql-timeout`).
    public static let defaultTimeout: Duration = .seconds(5)

    /// A column value as JSON can carry it (blobs as lowercase hex).
    public enum Value: Encodable, Sendable, CustomStringConvertible {
        case null, integer(Int64), real(Double), text(String), blob(String)

        public func encode(to encoder: any Encoder) throws {
            var container = encoder.singleValueContainer()
            switch self {
            case .null: try container.encodeNil()
            case .integer(let v): try container.encode(v)
            case .real(let v): try container.encode(v)
            case .text(let v): try container.encode(v)
            case .blob(let v): try container.encode(v)
            }
        }

        public var description: String {
            switch self {
            case .null: "NULL"
            case .integer(let v): String(v)
            case .real(let v): String(v)
            case .text(let v): v
            case .blob(let v): "x'\(v)'"
            }
        }

        /// About what the value costs to hold and send.
        public var bytes: Int {
            switch self {
            case .null, .integer, .real: 8
            case .text(let v), .blob(let v): v.utf8.count
            }
        }
    }

    /// Streams the rows of `sql` to `body` (column names, then one row at a time).
    /// - Parameters:
    ///   - timeout: the longest the statement may spend inside SQLite (time in `columns` and
    ///     `body` does not count).
    ///   - control: lets another thread stop the statement.
    /// - Throws: `StoreError` `.invalidArgument` for a refused statement or an SQL error,
    ///   `.timedOut` past `timeout`, `.cancelled` when `control` stopped it.
    public static func run(_ store: Store, sql: String, timeout: Duration = defaultTimeout, control: QueryControl = QueryControl(),
                           columns: ([String]) throws -> Void, row body: ([Value]) throws -> Void) throws {
        if let fleet = store.fleet {
            return try PostgresReadOnlyQuery.run(fleet.catalog, sql: sql, timeout: timeout, control: control, columns: columns, row: body)
        }
        if let reason = control.reason { throw StoreError(.cancelled, reason.message) }
        let connection = try UserQueryConnection(path: store.catalog.path, timeout: timeout, control: control)
        defer { connection.close(control) }
        let statement = try prepare(connection, sql)
        defer { sqlite3_finalize(statement) }
        let count = sqlite3_column_count(statement)
        try columns((0..<count).map { String(cString: sqlite3_column_name(statement, $0)) })
        while true {
            let code = connection.step(statement)
            if code == SQLITE_DONE { return }
            guard code == SQLITE_ROW else { throw failure(connection, code, timeout: timeout, control: control) }
            try body((0..<count).map { value(statement, $0) })
            if let reason = control.reason { throw StoreError(.cancelled, reason.message) }
        }
    }

    private static func refused(_ what: String) -> StoreError {
        StoreError(.invalidArgument, "refused: \(what) (SQL over the catalog is read-only and reads only the catalog's own tables and views)")
    }

    /// Compiles exactly one statement, which must pass the authorizer and be read-only.
    private static func prepare(_ connection: UserQueryConnection, _ sql: String) throws -> OpaquePointer {
        try sql.withCString { text -> OpaquePointer in
            var statement: OpaquePointer?
            var rest: UnsafePointer<CChar>?
            let code = sqlite3_prepare_v3(connection.handle, text, -1, 0, &statement, &rest)
            if let refusal = connection.takeRefusal() {
                sqlite3_finalize(statement)
                throw refused(refusal)
            }
            guard code == SQLITE_OK else { throw sqlError(connection.handle) }
            guard let statement else { throw refused("no SQL statement, only blanks or comments") }
            var next: OpaquePointer?
            if let rest, sqlite3_prepare_v3(connection.handle, rest, -1, 0, &next, nil) != SQLITE_OK || next != nil {
                sqlite3_finalize(next)
                sqlite3_finalize(statement)
                _ = connection.takeRefusal()
                throw refused("more than one statement (send one statement at a time)")
            }
            guard sqlite3_stmt_readonly(statement) != 0 else {
                sqlite3_finalize(statement)
                throw refused("a statement that would write to the catalog")
            }
            return statement
        }
    }

    private static func failure(_ connection: UserQueryConnection, _ code: Int32, timeout: Duration, control: QueryControl) -> StoreError {
        if code & 0xFF == SQLITE_INTERRUPT {
            if connection.timedOut {
                return StoreError(.timedOut, "stopped after \(seconds(timeout)) s: the statement ran past the SQL time limit (--sql-timeout)")
            }
            if let reason = control.reason { return StoreError(.cancelled, reason.message) }
        }
        if code & 0xFF == SQLITE_TOOBIG {
            return StoreError(.invalidArgument, "SQL error: string or blob too big (values are limited to \(UserQueryConnection.maxValueBytes >> 20) MiB)")
        }
        return sqlError(connection.handle)
    }

    private static func sqlError(_ handle: OpaquePointer) -> StoreError {
        let message = String(cString: sqlite3_errmsg(handle))
        switch sqlite3_errcode(handle) & 0xFF {
        case SQLITE_BUSY, SQLITE_LOCKED: return StoreError(.busy, "the catalog is busy: \(message)")
        case SQLITE_IOERR, SQLITE_CORRUPT, SQLITE_NOTADB, SQLITE_CANTOPEN: return StoreError(.io, "SQL error: \(message)")
        default: return StoreError(.invalidArgument, "SQL error: \(message)")
        }
    }

    /// `0.5`, `5`: seconds as people write them.
    static func seconds(_ duration: Duration) -> String {
        let value = Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
        return value == value.rounded() ? String(Int64(value)) : String(value)
    }

    private static func value(_ statement: OpaquePointer, _ column: Int32) -> Value {
        switch sqlite3_column_type(statement, column) {
        case SQLITE_INTEGER:
            return .integer(sqlite3_column_int64(statement, column))
        case SQLITE_FLOAT:
            return .real(sqlite3_column_double(statement, column))
        case SQLITE_TEXT:
            guard let text = sqlite3_column_text(statement, column) else { return .text("") }
            return .text(String(decoding: UnsafeBufferPointer(start: text, count: Int(sqlite3_column_bytes(statement, column))), as: UTF8.self))
        case SQLITE_BLOB:
            let count = Int(sqlite3_column_bytes(statement, column))
            return .blob(hex(UnsafeRawBufferPointer(start: sqlite3_column_blob(statement, column), count: count)))
        default:
            return .null
        }
    }

    private static let hexDigits = Array("0123456789abcdef".utf8)

    /// Lowercase hex, one pass (a blob can be megabytes; String(format:) per byte takes seconds).
    static func hex(_ bytes: UnsafeRawBufferPointer) -> String {
        String(unsafeUninitializedCapacity: bytes.count * 2) { out in
            for (i, byte) in bytes.enumerated() {
                out[2 * i] = hexDigits[Int(byte >> 4)]
                out[2 * i + 1] = hexDigits[Int(byte & 0x0F)]
            }
            return bytes.count * 2
        }
    }
}
