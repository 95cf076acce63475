internal import NIOCore
internal import PostgresNIO

/// PostgreSQL's errors as ``StoreError``s: SQLSTATE classes onto the store's codes, every
/// message naming the server (`host:port/database`), so callers see the same codes as on SQLite.
enum PostgresFailure {
    /// For the catalog's own statements (a failure there is the server's or ours, not the user's).
    static func map(_ error: any Error, endpoint: String) -> any Error {
        if error is StoreError { return error }
        guard let error = error as? PSQLError else {
            return StoreError(.unavailable, "PostgreSQL at \(endpoint): \(error)")
        }
        switch error.code {
        case .server:
            let state = error.serverInfo?[.sqlState] ?? ""
            let message = serverMessage(error)
            return StoreError(code(sqlState: state), "PostgreSQL at \(endpoint): \(message) (SQLSTATE \(state))")
        case .connectionError, .serverClosedConnection, .uncleanShutdown, .clientClosedConnection, .poolClosed:
            let cause = error.underlying.map { ": \($0)" } ?? ""
            return StoreError(.unavailable, "cannot reach PostgreSQL at \(endpoint)\(cause)")
        case .sslUnsupported:
            return StoreError(.unavailable, "PostgreSQL at \(endpoint) does not offer TLS, and the URL's sslmode requires it")
        case .authMechanismRequiresPassword:
            return StoreError(.invalidArgument, "PostgreSQL at \(endpoint) asks for a password and the catalog URL has none")
        case .unsupportedAuthMechanism, .saslError:
            return StoreError(.invalidArgument, "cannot authenticate to PostgreSQL at \(endpoint): \(error.code)")
        case .queryCancelled:
            return StoreError(.cancelled, "PostgreSQL at \(endpoint): the statement was cancelled")
        default:
            return StoreError(.io, "PostgreSQL at \(endpoint): \(error.code)")
        }
    }

    /// The server's own words, with its detail when it gave one.
    static func serverMessage(_ error: PSQLError) -> String {
        let message = error.serverInfo?[.message] ?? "\(error.code)"
        return error.serverInfo?[.detail].map { "\(message): \($0)" } ?? message
    }

    /// SQLSTATE (https://www.postgresql.org/docs/current/errcodes-appendix.html) onto the store's codes.
    static func code(sqlState: String) -> StoreError.Code {
        switch sqlState {
        case "3D000": return .noStore                                   // no such database
        case "42P01", "42703", "42883": return .schema                  // a table, column or function missing: not migrated
        case "40001", "40P01", "55P03", "53300": return .busy           // serialization, deadlock, lock, too many connections
        case "57014": return .timedOut                                   // statement_timeout (or a cancel)
        default: break
        }
        switch sqlState.prefix(2) {
        case "23": return .conflict                                      // integrity constraint violations
        case "22": return .invalidArgument                               // data exceptions
        case "28": return .invalidArgument                               // authentication: the URL's user or password
        case "08", "57", "53": return .unavailable                       // connection, operator intervention, resources
        default: return .io
        }
    }
}
