internal import NIOCore
internal import PostgresNIO

/// One connection for the length of one read or one transaction: statements go through the
/// bridge (``PostgresConnections/wait(_:)``) and failures come back as ``StoreError``s naming
/// the server. Not thread-safe: one caller at a time, as a GRDB `Database` is.
final class PostgresSession {
    let connection: PostgresConnection
    let endpoint: String
    /// Between BEGIN and COMMIT/ROLLBACK; a session handed back in one is closed, not reused.
    private(set) var inTransaction = false
    /// The connection failed (not a statement): it is closed, not reused.
    private(set) var broken = false
    private var cursors = 0

    init(connection: PostgresConnection, endpoint: String) {
        self.connection = connection
        self.endpoint = endpoint
    }

    func run(_ query: PostgresQuery) throws -> PostgresQueryResult {
        do {
            return try PostgresConnections.wait(connection.query(query, logger: PostgresConnections.logger))
        } catch {
            // The connection itself failed, or the server ended the session (57P01 admin
            // shutdown, 57P02 crash shutdown, 08xxx): it is not handed out again.
            if let failure = error as? PSQLError {
                let state = failure.serverInfo?[.sqlState] ?? ""
                if failure.code != .server || state.hasPrefix("57P") || state.hasPrefix("08") { broken = true }
            }
            if connection.isClosed { broken = true }
            throw PostgresFailure.map(error, endpoint: endpoint)
        }
    }

    func rows(_ query: PostgresQuery) throws -> [PostgresRandomAccessRow] {
        try run(query).rows.map { $0.makeRandomAccess() }
    }

    /// Runs a statement; returns the rows it changed.
    @discardableResult
    func execute(_ query: PostgresQuery) throws -> Int { try run(query).metadata.rows ?? 0 }

    /// The first column of the first row, or nil when there is no row.
    func scalar<T: PostgresDecodable>(_ query: PostgresQuery, as type: T.Type = T.self) throws -> T? {
        guard let row = try run(query).rows.first else { return nil }
        return try row.makeRandomAccess().value(0, T.self)
    }

    /// Streams the rows of `query` a page at a time through a server-side cursor, so a million
    /// rows cost one page of memory. Inside a transaction only (a cursor lives in one).
    func forEachRow(_ query: PostgresQuery, pageSize: Int = 2000, _ body: (PostgresRandomAccessRow) throws -> Void) throws {
        precondition(inTransaction, "a cursor needs a transaction")
        cursors += 1
        let name = "loom_cursor_\(cursors)"
        try execute(PostgresQuery(unsafeSQL: "DECLARE \(name) NO SCROLL CURSOR FOR " + query.sql, binds: query.binds))
        do {
            while true {
                let page = try rows(PostgresQuery(unsafeSQL: "FETCH FORWARD \(pageSize) FROM \(name)"))
                for row in page { try body(row) }
                if page.count < pageSize { break }
            }
        } catch {
            // A failed statement aborted the transaction (ROLLBACK drops the cursor); otherwise
            // the caller stopped, and the transaction may go on without it.
            _ = try? execute(PostgresQuery(unsafeSQL: "CLOSE \(name)"))
            throw error
        }
        try execute(PostgresQuery(unsafeSQL: "CLOSE \(name)"))
    }

    /// Runs `body` between `begin` and COMMIT; anything thrown rolls back.
    func transaction<T>(_ begin: String, _ body: () throws -> T) throws -> T {
        try self.begin(begin)
        return try committing(body)
    }

    func begin(_ statement: String) throws {
        try execute(PostgresQuery(unsafeSQL: statement))
        inTransaction = true
    }

    /// Runs `body` in the open transaction, then commits; anything thrown rolls back.
    func committing<T>(_ body: () throws -> T) throws -> T {
        do {
            let value = try body()
            try execute("COMMIT")
            inTransaction = false
            return value
        } catch {
            if !broken, (try? execute("ROLLBACK")) != nil { inTransaction = false }
            throw error
        }
    }
}

/// Statements whose text is built from pieces (filters that are present), with `$n` binds.
struct PostgresStatement {
    var sql = ""
    var binds = PostgresBindings()

    /// Appends a bind and returns its placeholder.
    mutating func bind<Value: PostgresDynamicTypeEncodable>(_ value: Value) -> String {
        binds.append(value)
        return "$\(binds.count)"
    }

    var query: PostgresQuery { PostgresQuery(unsafeSQL: sql, binds: binds) }
}

extension PostgresRandomAccessRow {
    /// A column by name; a value of the wrong type is a corrupt catalog, named by its column.
    func value<T: PostgresDecodable>(_ column: String, _ type: T.Type = T.self) throws -> T {
        do { return try self[column].decode(T.self) } catch {
            throw StoreError(.corrupt, "catalog column \(column): cannot read it as \(T.self): \(error)")
        }
    }

    func value<T: PostgresDecodable>(_ index: Int, _ type: T.Type = T.self) throws -> T {
        do { return try self[index].decode(T.self) } catch {
            throw StoreError(.corrupt, "catalog column \(index): cannot read it as \(T.self): \(error)")
        }
    }

    func digest(_ column: String) throws -> Digest {
        guard let digest = Digest(raw: try value(column, ByteBuffer.self).readableBytesView) else {
            throw StoreError(.corrupt, "blob row has a malformed digest")
        }
        return digest
    }

    func digest(_ index: Int) throws -> Digest? {
        guard let bytes = try value(index, ByteBuffer?.self) else { return nil }
        guard let digest = Digest(raw: bytes.readableBytesView) else { throw StoreError(.corrupt, "blob row has a malformed digest") }
        return digest
    }
}

extension Digest {
    /// The digest as a `bytea` bind.
    var postgres: ByteBuffer { ByteBuffer(bytes: rawBytes) }
}
