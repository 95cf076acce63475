import Dispatch
internal import Logging
internal import NIOConcurrencyHelpers
internal import NIOCore
internal import NIOPosix
internal import NIOSSL
internal import PostgresNIO

/// The synchronous bridge onto postgres-nio, and a small pool of open connections.
///
/// The repositories are synchronous (as GRDB's are), postgres-nio is asynchronous. Every byte of
/// PostgreSQL I/O runs on ``eventLoops``, a group of event-loop threads that belongs to the
/// catalog alone; a repository call sends its statement there and blocks its own thread until
/// the result's future completes (``wait(_:)``). This cannot deadlock, whatever thread calls:
/// - the completion never needs the calling thread or the Swift cooperative pool: it is
///   delivered by one of ``eventLoops``' threads, which run only postgres-nio's channel handlers
///   and the one-line callbacks below, never caller code, and never block;
/// - a caller on one of those threads would wait for itself, so that is refused (a precondition:
///   nothing in Loom runs there);
/// - a caller on a cooperative-pool thread (an async handler calling a repository) holds that
///   thread for one round trip, as a SQLite read holds it for one disk read, and nothing the
///   completion needs is queued behind it. (NIO's own `wait()` is not used: it refuses to run on
///   any event loop, and a server's handlers may run on another group's loops.)
final class PostgresConnections: Sendable {
    /// One small group for every PostgreSQL catalog in the process, never shut down (a static).
    static let eventLoops = MultiThreadedEventLoopGroup(numberOfThreads: 2)

    let url: PostgresCatalogURL
    private let configuration: PostgresConnection.Configuration
    private let idle = NIOLockedValueBox<[PostgresConnection]>([])
    private let nextID = NIOLockedValueBox<Int>(0)
    private static let maxIdle = 8
    static let logger = Logger(label: "loom.postgres", factory: { _ in SwiftLogNoOpLogHandler() })

    init(url: PostgresCatalogURL) throws {
        self.url = url
        var configuration: PostgresConnection.Configuration
        if let directory = url.socketDirectory {
            configuration = .init(unixSocketPath: "\(directory)/.s.PGSQL.\(url.port)", username: url.user,
                                  password: url.password, database: url.database)
        } else {
            configuration = .init(host: url.host ?? "localhost", port: url.port, username: url.user, password: url.password,
                                  database: url.database, tls: try Self.tls(url))
        }
        configuration.options.connectTimeout = .seconds(Int64(url.connectTimeoutSeconds))
        configuration.options.additionalStartupParameters = [("application_name", url.applicationName)]
        self.configuration = configuration
    }

    /// libpq's sslmodes: the modes below verify-ca encrypt without checking the certificate.
    private static func tls(_ url: PostgresCatalogURL) throws -> PostgresConnection.Configuration.TLS {
        var tls = TLSConfiguration.makeClientConfiguration()
        switch url.sslMode {
        case .disable: return .disable
        case .allow, .prefer, .require: tls.certificateVerification = .none
        case .verifyCA: tls.certificateVerification = .noHostnameVerification
        case .verifyFull: tls.certificateVerification = .fullVerification
        }
        let context: NIOSSLContext
        do { context = try NIOSSLContext(configuration: tls) } catch {
            throw StoreError(.invalidArgument, "catalog \(url): cannot set up TLS: \(error)")
        }
        return url.sslMode == .allow || url.sslMode == .prefer ? .prefer(context) : .require(context)
    }

    /// Blocks until `future` completes; see the type's comment for why this cannot deadlock.
    static func wait<T: Sendable>(_ future: EventLoopFuture<T>) throws -> T {
        precondition(!eventLoops.makeIterator().contains { $0.inEventLoop },
                     "a PostgreSQL catalog call on the catalog's own event loop would wait for itself")
        let result = NIOLockedValueBox<Result<T, any Error>?>(nil)
        let done = DispatchSemaphore(value: 0)
        future.whenComplete { outcome in
            result.withLockedValue { $0 = outcome }
            done.signal()
        }
        done.wait()
        return try result.withLockedValue { $0! }.get()
    }

    /// Runs `body` on an open connection (an idle one, else a new one), handed back afterwards
    /// unless it broke or `body` left a transaction open.
    func withSession<T>(_ body: (PostgresSession) throws -> T) throws -> T {
        let session = PostgresSession(connection: try checkOut().connection, endpoint: url.endpoint)
        defer { checkIn(session) }
        return try body(session)
    }

    /// Runs `body` in a transaction opened with `begin`, committed when it returns. An idle
    /// connection the server dropped meanwhile (a restart, an idle timeout) and postgres-nio
    /// has not noticed yet fails at BEGIN, before anything of `body` ran: that one attempt is
    /// made again on a new connection.
    func transaction<T>(_ begin: String, _ body: (PostgresSession) throws -> T) throws -> T {
        let (connection, reused) = try checkOut()
        var session = PostgresSession(connection: connection, endpoint: url.endpoint)
        do {
            try session.begin(begin)
        } catch where reused && session.broken {
            checkIn(session)
            session = PostgresSession(connection: try connect(), endpoint: url.endpoint)
            do { try session.begin(begin) } catch {
                checkIn(session)
                throw error
            }
        } catch {
            checkIn(session)
            throw error
        }
        defer { checkIn(session) }
        return try session.committing { try body(session) }
    }

    private func checkOut() throws -> (connection: PostgresConnection, reused: Bool) {
        while let connection = idle.withLockedValue({ $0.popLast() }) {
            if !connection.isClosed { return (connection, true) }
        }
        return (try connect(), false)
    }

    private func connect() throws -> PostgresConnection {
        let id = nextID.withLockedValue { $0 += 1; return $0 }
        do {
            return try Self.wait(PostgresConnection.connect(on: Self.eventLoops.next(), configuration: configuration, id: id,
                                                            logger: Self.logger))
        } catch {
            throw PostgresFailure.map(error, endpoint: url.endpoint)
        }
    }

    private func checkIn(_ session: PostgresSession) {
        let connection = session.connection
        guard !session.broken, !session.inTransaction, !connection.isClosed else {
            Self.discard(connection)
            return
        }
        let kept = idle.withLockedValue { idle -> Bool in
            guard idle.count < Self.maxIdle else { return false }
            idle.append(connection)
            return true
        }
        if !kept { Self.discard(connection) }
    }

    /// Closes the idle connections (those in use close when handed back).
    func close() {
        for connection in idle.withLockedValue({ idle in defer { idle.removeAll() }; return idle }) { Self.discard(connection) }
    }

    /// Closes without waiting: the close completes on the connection's event loop, which holds
    /// the connection until then (postgres-nio requires it closed before it is released).
    private static func discard(_ connection: PostgresConnection) {
        let closed: EventLoopFuture<Void> = connection.close()
        closed.whenComplete { _ in withExtendedLifetime(connection) {} }
    }

    deinit { close() }
}
