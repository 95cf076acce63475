internal import GRDBSQLite
import Synchronization

/// Stops a user SQL statement from another thread: when its client goes away, or when the
/// server shuts down. The first reason wins; a control stopped before its statement starts
/// stops the statement at once.
public final class QueryControl: Sendable {
    public enum Reason: Sendable {
        case clientGone, shutdown

        var message: String {
            switch self {
            case .clientGone: "stopped: the client went away"
            case .shutdown: "stopped: the server is shutting down"
            }
        }
    }

    private struct State {
        var reason: Reason?
        /// The connection the statement runs on while it runs, so `stop` can interrupt it;
        /// bound and unbound under the lock, so `sqlite3_interrupt` never sees a closed one.
        var connection: Connection?
    }

    /// @unchecked: other threads only ever pass it to `sqlite3_interrupt`, which SQLite allows
    /// from any thread, and only under the lock that unbinds it before the connection closes.
    struct Connection: @unchecked Sendable {
        let handle: OpaquePointer
    }

    private let state = Mutex(State())

    public init() {}

    public func stop(_ reason: Reason) {
        state.withLock { state in
            guard state.reason == nil else { return }
            state.reason = reason
            // Interrupts SQLite's inner loops (a sort, a busy wait) sooner than the progress
            // handler would notice the reason.
            if let connection = state.connection { sqlite3_interrupt(connection.handle) }
        }
    }

    public var reason: Reason? { state.withLock { $0.reason } }

    func bind(_ handle: OpaquePointer?) {
        let connection = handle.map(Connection.init)
        state.withLock { $0.connection = connection }
    }
}
