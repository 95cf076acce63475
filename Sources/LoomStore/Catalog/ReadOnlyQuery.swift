import Foundation
import GRDB

/// Runs one read-only SQL statement over the catalog (`loom sql`).
///
/// Two guards: the statement is prepared first and refused unless SQLite reports it read-only
/// (`sqlite3_stmt_readonly`), and the connection itself is opened `SQLITE_OPEN_READONLY` (the
/// store is opened `.readOnly`), so even a statement that slipped past the first check could
/// not write.
public enum ReadOnlyQuery {
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
    }

    /// Streams the rows of `sql` to `body` (column names, then one row at a time).
    /// - Throws: `StoreError.invalidArgument` for a statement that would write, or for SQL errors.
    public static func run(_ store: Store, sql: String, columns: ([String]) throws -> Void,
                           row body: ([Value]) throws -> Void) throws {
        guard store.access == .readOnly else {
            throw StoreError(.invalidArgument, "loom sql needs a store opened read-only")
        }
        do {
            try store.catalog.read { db in
                let statement = try db.makeStatement(sql: sql)
                guard statement.isReadonly else {
                    throw StoreError(.invalidArgument, "refused: loom sql is read-only, and this statement would write to the catalog")
                }
                try columns(statement.columnNames)
                let rows = try Row.fetchCursor(statement)
                while let row = try rows.next() {
                    try body(row.databaseValues.map(Self.value))
                }
            }
        } catch let error as DatabaseError {
            if error.resultCode == .SQLITE_READONLY {
                throw StoreError(.invalidArgument, "refused: loom sql is read-only (\(error.message ?? "write attempted"))")
            }
            throw StoreError(.invalidArgument, "SQL error: \(error.message ?? "\(error)")")
        }
    }

    static func value(_ value: DatabaseValue) -> Value {
        switch value.storage {
        case .null: .null
        case .int64(let v): .integer(v)
        case .double(let v): .real(v)
        case .string(let v): .text(v)
        case .blob(let data): .blob(data.map { String(format: "%02x", $0) }.joined())
        }
    }
}
