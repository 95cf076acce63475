import Synchronization

/// A cap on how many user SQL statements run at once (`loom serve --sql-concurrency`), each on
/// a connection of its own within the pool's time limit. Past the cap a statement is refused
/// at once with `.busy` rather than queued: a queue of slow statements would only grow, and the
/// API's own reads never wait here, since they use the store's connections.
public final class UserQueryPool: Sendable {
    public let capacity: Int
    public let timeout: Duration
    private let inUse = Mutex(0)

    public init(capacity: Int, timeout: Duration = ReadOnlyQuery.defaultTimeout) {
        self.capacity = max(1, capacity)
        self.timeout = timeout
    }

    /// Statements running (or about to) now.
    public var running: Int { inUse.withLock { $0 } }

    /// Takes a slot, before the caller spends a thread on the statement.
    /// - Throws: `StoreError.busy` when every slot is taken.
    public func reserve() throws -> Slot {
        let capacity = self.capacity
        try inUse.withLock { count in
            guard count < capacity else {
                throw StoreError(.busy, "busy: all \(capacity) SQL slots are running statements (--sql-concurrency); retry shortly")
            }
            count += 1
        }
        return Slot(pool: self)
    }

    fileprivate func free() { inUse.withLock { $0 -= 1 } }

    /// One taken slot: runs one statement, and is free again once that ends (or once the slot
    /// goes unused).
    public final class Slot: Sendable {
        private let pool: UserQueryPool
        private let taken = Mutex(true)

        fileprivate init(pool: UserQueryPool) { self.pool = pool }

        /// ``ReadOnlyQuery/run(_:sql:timeout:control:columns:row:)`` with the pool's time limit.
        public func run(_ store: Store, sql: String, control: QueryControl, columns: ([String]) throws -> Void,
                        row body: ([ReadOnlyQuery.Value]) throws -> Void) throws {
            defer { release() }
            guard taken.withLock({ $0 }) else { throw StoreError(.invalidArgument, "an SQL slot runs one statement") }
            try ReadOnlyQuery.run(store, sql: sql, timeout: pool.timeout, control: control, columns: columns, row: body)
        }

        private func release() {
            if taken.withLock({ state in defer { state = false }; return state }) { pool.free() }
        }

        deinit { release() }
    }
}
