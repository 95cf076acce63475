import Foundation
import GRDB

// Apart from Digest.swift so the digest type builds without GRDB (the fuzz harnesses in Fuzz/
// compile the shard parser on its own).
extension Digest: DatabaseValueConvertible {
    public var databaseValue: DatabaseValue { Data(rawBytes).databaseValue }

    public static func fromDatabaseValue(_ dbValue: DatabaseValue) -> Digest? {
        guard let data = Data.fromDatabaseValue(dbValue) else { return nil }
        return Digest(raw: data)
    }
}
