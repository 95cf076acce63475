internal import GRDBSQLite

/// One SQLite connection for one user statement, opened `SQLITE_OPEN_READONLY` beside the
/// catalog's GRDB pool and closed after it: nothing a statement does (or tries) can stay on a
/// connection the store's own queries use, and the authorizer, limits and progress handler
/// set here never touch those connections.
///
/// Used from one thread at a time (the statement's); only ``QueryControl`` reaches it from
/// another, through `sqlite3_interrupt`, which SQLite allows from any thread.
final class UserQueryConnection {
    /// The longest string or blob a statement may make or read. The catalog's values are
    /// small (names, JSON configs); this stops `randomblob(1e9)` and friends from allocating
    /// a gigabyte per call (Debian's SQLite allows 1e9).
    static let maxValueBytes: Int32 = 16 << 20
    /// Virtual machine steps between two looks at the clock and the control.
    static let progressInterval: Int32 = 1000

    let handle: OpaquePointer
    private let gate: Gate
    private let watch: Watch

    init(path: String, timeout: Duration, control: QueryControl) throws {
        var opened: OpaquePointer?
        guard sqlite3_open_v2(path, &opened, SQLITE_OPEN_READONLY, nil) == SQLITE_OK, let handle = opened else {
            let message = opened.map { String(cString: sqlite3_errmsg($0)) } ?? "out of memory"
            sqlite3_close_v2(opened)
            throw StoreError(.io, "cannot open the catalog for SQL: \(message)", path: path)
        }
        // A writer's checkpoint can hold readers off briefly; never longer than the statement may run.
        sqlite3_busy_timeout(handle, Int32(clamping: max(1, Int64(timeout / .milliseconds(1)))))
        let objects: Set<String>
        do {
            objects = try Self.catalogObjects(handle)
        } catch {
            sqlite3_close_v2(handle)
            throw error
        }
        self.handle = handle
        gate = Gate(policy: SQLAuthorizer(catalogObjects: objects))
        watch = Watch(limit: timeout, control: control)

        sqlite3_extended_result_codes(handle, 1)
        sqlite3_limit(handle, SQLITE_LIMIT_LENGTH, Self.maxValueBytes)
        sqlite3_limit(handle, SQLITE_LIMIT_SQL_LENGTH, 1 << 20)
        sqlite3_limit(handle, SQLITE_LIMIT_ATTACHED, 0)
        sqlite3_limit(handle, SQLITE_LIMIT_WORKER_THREADS, 0)
        sqlite3_enable_load_extension(handle, 0)
        sqlite3_progress_handler(handle, Self.progressInterval, { context in
            Unmanaged<Watch>.fromOpaque(context!).takeUnretainedValue().shouldStop() ? 1 : 0
        }, Unmanaged.passUnretained(watch).toOpaque())
        sqlite3_set_authorizer(handle, { context, action, first, second, database, _ in
            let gate = Unmanaged<Gate>.fromOpaque(context!).takeUnretainedValue()
            guard let refusal = gate.policy.refusal(action, first.map { String(cString: $0) }, second.map { String(cString: $0) },
                                                    database.map { String(cString: $0) }) else { return SQLITE_OK }
            if gate.refusal == nil { gate.refusal = refusal }
            return SQLITE_DENY
        }, Unmanaged.passUnretained(gate).toOpaque())
        control.bind(handle)
    }

    /// Unbinds from the control before closing, so a late `stop` finds no connection.
    func close(_ control: QueryControl) {
        control.bind(nil)
        sqlite3_close_v2(handle)
    }

    /// The names the authorizer lets statements read: the catalog's tables and views.
    private static func catalogObjects(_ handle: OpaquePointer) throws -> Set<String> {
        var statement: OpaquePointer?
        let sql = "SELECT name FROM sqlite_schema WHERE type IN ('table', 'view')"
        guard sqlite3_prepare_v2(handle, sql, -1, &statement, nil) == SQLITE_OK, let statement else {
            throw StoreError(.io, "cannot read the catalog's schema: \(String(cString: sqlite3_errmsg(handle)))")
        }
        defer { sqlite3_finalize(statement) }
        var names: Set<String> = []
        while true {
            let code = sqlite3_step(statement)
            if code == SQLITE_DONE { return names }
            guard code == SQLITE_ROW else {
                throw StoreError(.io, "cannot read the catalog's schema: \(String(cString: sqlite3_errmsg(handle)))")
            }
            names.insert(String(cString: sqlite3_column_text(statement, 0)).lowercased())
        }
    }

    /// The first refusal the authorizer gave since the last call (and forgets it).
    func takeRefusal() -> String? {
        defer { gate.refusal = nil }
        return gate.refusal
    }

    /// Runs `sqlite3_step` with the clock running: only time inside SQLite counts against the
    /// limit, not the time the caller takes with each row (a pager, a slow pipe).
    func step(_ statement: OpaquePointer) -> Int32 {
        watch.started = .now
        defer {
            if let started = watch.started { watch.spent += .now - started }
            watch.started = nil
        }
        return sqlite3_step(statement)
    }

    var timedOut: Bool { watch.timedOut }
    var spent: Duration { watch.spent }

    /// The authorizer's state. A class so the C callback can reach it through a pointer; only
    /// the statement's thread touches it (SQLite calls the authorizer while preparing).
    private final class Gate {
        let policy: SQLAuthorizer
        var refusal: String?
        init(policy: SQLAuthorizer) { self.policy = policy }
    }

    /// The time limit and the stop request, checked by the progress handler (on the
    /// statement's thread, inside `sqlite3_step`).
    private final class Watch {
        let limit: Duration
        let control: QueryControl
        var spent: Duration = .zero
        var started: ContinuousClock.Instant?
        var timedOut = false

        init(limit: Duration, control: QueryControl) {
            self.limit = limit
            self.control = control
        }

        func shouldStop() -> Bool {
            if control.reason != nil { return true }
            if let started, spent + (.now - started) > limit { timedOut = true }
            return timedOut
        }
    }
}
