import Foundation

/// Runs `sql` on a catalog from another process (the sqlite3 shell), as another program could:
/// tests use it to change or damage a catalog behind the store's back.
/// - Throws: when the shell exits with a failure, naming the statement.
public func runSQLiteShell(_ database: String, _ sql: String) throws {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    process.arguments = ["sqlite3", database, sql]
    try process.run()
    process.waitUntilExit()
    guard process.terminationStatus == 0 else {
        throw SQLiteShellError(message: "sqlite3 \(database) exited with status \(process.terminationStatus) on: \(sql)")
    }
}

public struct SQLiteShellError: Error, CustomStringConvertible {
    public var message: String
    public var description: String { message }
}
