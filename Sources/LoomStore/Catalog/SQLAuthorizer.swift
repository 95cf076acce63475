internal import GRDBSQLite

/// What user SQL (`loom sql`, `/v1/sql`) may do, decided by SQLite's authorizer while a statement
/// is compiled: read the catalog's own tables and views, call SQLite's functions, and read a few
/// pragmas. Everything else is refused by name before it runs: ATTACH, DETACH and VACUUM (which
/// open other files, and whose errors would tell which files exist), writes, transactions, other
/// pragmas (settings, and `database_list`, which prints the catalog's path), virtual tables that
/// are not the catalog's (dbstat, sqlite_stmt), the temp schema, and the functions that hand out
/// pointers or load code.
///
/// An allow-list: an action SQLite adds in a later version is refused until it is listed here.
struct SQLAuthorizer {
    /// The catalog's tables and views (lowercased: SQLite names are case-insensitive), read
    /// before the authorizer is installed.
    let catalogObjects: Set<String>

    /// Pragmas that describe a table or index named by their argument.
    static let describingPragmas: Set<String> = [
        "table_info", "table_xinfo", "table_list", "index_list", "index_info", "index_xinfo", "foreign_key_list",
    ]
    /// Pragmas that only report a value when given no argument (with one, most of them set it).
    static let reportingPragmas: Set<String> = [
        "user_version", "application_id", "schema_version", "data_version", "page_count", "page_size",
        "freelist_count", "encoding", "collation_list", "function_list", "module_list", "pragma_list",
    ]
    /// Table-valued functions over their arguments, not over any file.
    static let valueTables: Set<String> = ["json_each", "json_tree"]
    /// `fts3_tokenizer` returns (and with two arguments installs) a raw C pointer; Debian's
    /// SQLite enables it. `load_extension` loads a shared library.
    static let refusedFunctions: Set<String> = ["fts3_tokenizer", "load_extension"]

    /// nil when the action is allowed, else what was refused, in words.
    /// - Parameters: the authorizer callback's arguments (see `sqlite3_set_authorizer`).
    func refusal(_ action: Int32, _ first: String?, _ second: String?, _ database: String?) -> String? {
        let inMain = database == nil || database == "main"
        switch action {
        case SQLITE_SELECT, SQLITE_RECURSIVE:
            return nil
        case SQLITE_READ where second == "" && database == nil:
            // `count(*)` of a FROM item, which may be a CTE or a subquery (names no schema
            // has): a row count, and a pragma's table still needs its PRAGMA allowed.
            return nil
        case SQLITE_READ:
            let table = (first ?? "").lowercased()
            return inMain && readable(table) ? nil : "reading \(first ?? "?")\(database.map { " in schema \($0)" } ?? "")"
        case SQLITE_FUNCTION:
            let name = (second ?? "").lowercased()
            return Self.refusedFunctions.contains(name) ? "the function \(name)()" : nil
        case SQLITE_PRAGMA:
            let name = (first ?? "").lowercased()
            let allowed = inMain && (Self.describingPragmas.contains(name) || (second == nil && Self.reportingPragmas.contains(name)))
            return allowed ? nil : "PRAGMA \(name)\(second.map { " = \($0)" } ?? "")"
        case SQLITE_UPDATE where first == "sqlite_master" && inMain:
            // Naming an eponymous virtual table (json_each, pragma_table_info) declares it, and
            // SQLite authorizes that declaration as an UPDATE of sqlite_master. The statement
            // still has to be read-only (sqlite3_stmt_readonly) on a read-only connection.
            return nil
        case SQLITE_ATTACH:
            return first.map { $0.isEmpty ? "VACUUM" : "ATTACH (or VACUUM INTO) of '\($0)'" } ?? "ATTACH"
        case SQLITE_DETACH:
            return "DETACH"
        case SQLITE_TRANSACTION, SQLITE_SAVEPOINT:
            return "\(first ?? "BEGIN") (each statement runs in a read transaction of its own)"
        default:
            let verb = Self.writeVerbs[action] ?? "action \(action)"
            return first.map { "\(verb) \($0)" } ?? verb
        }
    }

    private func readable(_ table: String) -> Bool {
        if catalogObjects.contains(table) || table == "sqlite_master" || Self.valueTables.contains(table) { return true }
        // `SELECT * FROM pragma_table_info('t')` reads the pragma's table; the pragma itself is
        // then authorized as a PRAGMA, with the same lists.
        if table.hasPrefix("pragma_") {
            let pragma = String(table.dropFirst("pragma_".count))
            return Self.describingPragmas.contains(pragma) || Self.reportingPragmas.contains(pragma)
        }
        return false
    }

    private static let writeVerbs: [Int32: String] = [
        SQLITE_INSERT: "INSERT INTO", SQLITE_UPDATE: "UPDATE", SQLITE_DELETE: "DELETE FROM",
        SQLITE_CREATE_INDEX: "CREATE INDEX", SQLITE_CREATE_TABLE: "CREATE TABLE", SQLITE_CREATE_TRIGGER: "CREATE TRIGGER",
        SQLITE_CREATE_VIEW: "CREATE VIEW", SQLITE_CREATE_TEMP_INDEX: "CREATE TEMP INDEX",
        SQLITE_CREATE_TEMP_TABLE: "CREATE TEMP TABLE", SQLITE_CREATE_TEMP_TRIGGER: "CREATE TEMP TRIGGER",
        SQLITE_CREATE_TEMP_VIEW: "CREATE TEMP VIEW", SQLITE_CREATE_VTABLE: "CREATE VIRTUAL TABLE",
        SQLITE_DROP_INDEX: "DROP INDEX", SQLITE_DROP_TABLE: "DROP TABLE", SQLITE_DROP_TRIGGER: "DROP TRIGGER",
        SQLITE_DROP_VIEW: "DROP VIEW", SQLITE_DROP_TEMP_INDEX: "DROP INDEX", SQLITE_DROP_TEMP_TABLE: "DROP TABLE",
        SQLITE_DROP_TEMP_TRIGGER: "DROP TRIGGER", SQLITE_DROP_TEMP_VIEW: "DROP VIEW", SQLITE_DROP_VTABLE: "DROP TABLE",
        SQLITE_ALTER_TABLE: "ALTER TABLE", SQLITE_REINDEX: "REINDEX", SQLITE_ANALYZE: "ANALYZE",
    ]
}
