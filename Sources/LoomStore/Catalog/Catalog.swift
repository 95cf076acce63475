internal import GRDB

/// The SQLite catalog: WAL mode, one writer beside any number of readers (in this process or
/// others), foreign keys on.
public final class Catalog: Sendable {
    public let path: String
    let pool: DatabasePool

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
        if readOnly { try Self.migrateIfBehind(path: path) }
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

    /// A catalog written by an older loom is migrated even by a reading command (migrations are
    /// transactional and additive); only a catalog we cannot write stays as it is and fails the
    /// version check that follows.
    private static func migrateIfBehind(path: String) throws {
        var config = Configuration()
        config.readonly = true
        let version = try? DatabaseQueue(path: path, configuration: config).read { db in
            try Int.fetchOne(db, sql: "PRAGMA user_version") ?? 0
        }
        guard let version, version < Migrations.latestVersion else { return }
        var writable = Configuration()
        writable.busyMode = .timeout(30)
        if let queue = try? DatabaseQueue(path: path, configuration: writable) {
            try Migrations.migrate(queue, path: path)
        }
    }

    func read<T>(_ body: (Database) throws -> T) throws -> T { try pool.read(body) }
    func write<T>(_ body: (Database) throws -> T) throws -> T { try pool.write(body) }
}
