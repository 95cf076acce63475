import GRDB

/// The SQLite catalog: WAL mode, one writer beside any number of readers (in this process or
/// others), foreign keys on.
public final class Catalog: Sendable {
    public let path: String
    public let pool: DatabasePool

    /// Opens the catalog file.
    /// - Parameter readOnly: opens every connection with `SQLITE_OPEN_READONLY`, so not even a
    ///   crafted statement can write (`loom sql` relies on it).
    init(path: String, readOnly: Bool) throws {
        self.path = path
        var config = Configuration()
        config.readonly = readOnly
        config.foreignKeysEnabled = true
        config.busyMode = .timeout(30)
        config.label = "loom-catalog"
        if !readOnly {
            // WAL + NORMAL: a commit is atomic and survives a process crash; after a power cut the
            // newest commits may roll back, but never to a row whose bytes are missing, because
            // shard bytes are fdatasync'ed before the commit that references them.
            config.prepareDatabase { db in try db.execute(sql: "PRAGMA synchronous = NORMAL") }
        }
        do {
            pool = try DatabasePool(path: path, configuration: config)
        } catch let error as DatabaseError {
            throw StoreError(.io, "cannot open catalog: \(error.message ?? "\(error)")", path: path)
        }
        if readOnly {
            try Migrations.check(pool, path: path)
        } else {
            try Migrations.migrate(pool, path: path)
        }
    }

    public func read<T>(_ body: (Database) throws -> T) throws -> T { try pool.read(body) }
    public func write<T>(_ body: (Database) throws -> T) throws -> T { try pool.write(body) }
}
