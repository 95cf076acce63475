import Foundation
import HTTPTypes
import Hummingbird
import LoomStore
import ServiceLifecycle

/// `GET /v1/sql`: one read-only statement, the guard of `loom sql` (``ReadOnlyQuery``), in a
/// slot of the server's ``UserQueryPool``: its own connections, a concurrency cap (503 with
/// Retry-After past it) and a time limit (408 past it). The statement stops when its client
/// goes away and when the server shuts down (503), so it never outlives its request.
enum SQLRoutes {
    struct SQLResult: Encodable, Sendable {
        var columns: [String]
        var rows: [[String: ReadOnlyQuery.Value]]
        /// True when the statement had more rows than `limit` (or than ``maxResultBytes`` hold).
        var truncated: Bool
    }

    /// The most value bytes one answer holds (its JSON is about as large again): `limit` rows
    /// of 16 MiB values would not fit in memory.
    static let maxResultBytes = 32 << 20

    private struct Stop: Error {}

    static func sql(_ request: Request, _ context: BasicRequestContext, _ state: ServerState) async throws -> Response {
        let query = try QueryParameters(request, allowed: ["q", "limit"])
        let sql = try query.requiredString("q")
        let limit = try query.int("limit", in: 1...100_000) ?? 1000
        let pool = state.userQueries, store = state.store.reader
        let control = QueryControl()
        do {
            let slot = try pool.reserve()
            // Only the inbound side of the connection says that the client left, so this
            // handler watches it (the request has no body to read). Hummingbird ends the
            // connection after such a response, and `Connection: close` tells the client.
            let result = try await request.body.consumeWithInboundCloseHandler { _ in
                try await withGracefulShutdownHandler {
                    try await withTaskCancellationHandler {
                        try await onOwnThread { try collect(slot, store, sql: sql, limit: limit, control: control) }
                    } onCancel: {
                        control.stop(.clientGone)
                    }
                } onGracefulShutdown: {
                    control.stop(.shutdown)
                }
            } onInboundClosed: {
                control.stop(.clientGone)
            }
            var response = JSONBody.response(result)
            response.headers[.connection] = "close"
            return response
        } catch let error as StoreError {
            throw httpError(error, pool: pool)
        }
    }

    /// The statuses of a statement that did not answer; others are ``APIError/from(_:)``'s.
    static func httpError(_ error: StoreError, pool: UserQueryPool) -> any Error {
        let close: HTTPFields = [.connection: "close"]
        switch error.code {
        case .busy:
            // A slot frees at the latest when its statement reaches the time limit.
            var headers = close
            headers[.retryAfter] = String(max(1, Int((pool.timeout / .seconds(1)).rounded(.up))))
            return APIError(.serviceUnavailable, error.message, headers: headers)
        case .timedOut:
            return APIError(.requestTimeout, error.message, headers: close)
        case .cancelled:
            return APIError(.serviceUnavailable, error.message, headers: close)
        default:
            var apiError = APIError.from(error)
            apiError.headers.append(contentsOf: close)
            return apiError
        }
    }

    /// Runs `body` on a thread of its own, not on ``Offload``'s queue: a statement may block for
    /// its whole time limit, and Dispatch runs about as many blocking items at once as there
    /// are cores, so statements there would hold up blobs and `/healthz` until it adds threads.
    /// The slots bound how many such threads there are.
    static func onOwnThread<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            let thread = Thread { continuation.resume(with: Result { try body() }) }
            thread.name = "loom-serve-sql"
            thread.start()
        }
    }

    static func collect(_ slot: UserQueryPool.Slot, _ store: Store, sql: String, limit: Int, control: QueryControl) throws -> SQLResult {
        var result = SQLResult(columns: [], rows: [], truncated: false)
        var bytes = 0
        do {
            try slot.run(store, sql: sql, control: control, columns: { result.columns = $0 }, row: { values in
                bytes += values.reduce(0) { $0 + $1.bytes }
                if result.rows.count == limit || bytes > maxResultBytes { result.truncated = true; throw Stop() }
                // Duplicate column names keep the last value, as `loom sql --json` does.
                result.rows.append(Dictionary(zip(result.columns, values).map { ($0, $1) }, uniquingKeysWith: { _, new in new }))
            })
        } catch is Stop {}
        return result
    }
}
