import Foundation
internal import GRDB

// Apart from Digest.swift so the digest type builds without GRDB (the fuzz harnesses in Fuzz/
// compile the shard parser on its own).
//
// Not a `DatabaseValueConvertible` conformance: GRDB is LoomStore's internal import, and a public
// type cannot conform publicly to an internal module's protocol. These internal helpers keep the
// SQLite code reading as it would with the conformance (`row["digest"]`, `Digest.fetchAll`);
// arguments bind `digest.databaseValue`.
extension Digest {
    var databaseValue: DatabaseValue { Data(rawBytes).databaseValue }

    static func fromDatabaseValue(_ dbValue: DatabaseValue) -> Digest? {
        guard let data = Data.fromDatabaseValue(dbValue) else { return nil }
        return Digest(raw: data)
    }

    static func fetchAll(_ db: Database, sql: String, arguments: StatementArguments = StatementArguments()) throws -> [Digest] {
        try DatabaseValue.fetchAll(db, sql: sql, arguments: arguments).map(decoded)
    }

    static func fetchOne(_ db: Database, sql: String, arguments: StatementArguments = StatementArguments()) throws -> Digest? {
        try DatabaseValue.fetchOne(db, sql: sql, arguments: arguments).flatMap { $0.isNull ? nil : try decoded($0) }
    }

    static func fetchSet(_ db: Database, sql: String, arguments: StatementArguments = StatementArguments()) throws -> Set<Digest> {
        Set(try fetchAll(db, sql: sql, arguments: arguments))
    }

    /// A stored digest that is not 32 bytes is a damaged catalog, not a value to skip.
    static func decoded(_ value: DatabaseValue) throws -> Digest {
        guard let digest = fromDatabaseValue(value) else {
            throw StoreError(.corrupt, "a catalog digest is not a 32-byte SHA-256 (\(value))")
        }
        return digest
    }
}

extension Row {
    /// The digest in `column`, nil for NULL.
    subscript(_ column: String) -> Digest? {
        let value: DatabaseValue = self[column]
        return value.isNull ? nil : Digest.fromDatabaseValue(value)
    }

    /// Straight from the statement's buffer, with no `Data` copied in between: the loader's
    /// sample query reads two digests a row, a million rows at a time.
    subscript(_ index: Int) -> Digest? {
        (try? withUnsafeData(atIndex: index) { data in
            data.flatMap { data in
                data.count == 32 ? data.withUnsafeBytes { Digest(bytes: $0.loadUnaligned(as: SIMD32<UInt8>.self)) } : nil
            }
        }) ?? nil
    }

    /// The digest in `column`. Like GRDB's own non-optional decoding, a NULL or malformed value
    /// is a programming error here: every digest column is `NOT NULL` and checked by its length.
    subscript(_ column: String) -> Digest {
        guard let digest: Digest = self[column] else { preconditionFailure("column \(column) holds no digest") }
        return digest
    }

    subscript(_ index: Int) -> Digest {
        guard let digest: Digest = self[index] else { preconditionFailure("column \(index) holds no digest") }
        return digest
    }
}
