import Foundation
import Hummingbird
import Logging
import LoomStore
import NIOCore

/// `loom serve`: the store over HTTP.
public struct LoomServer: Sendable {
    public let configuration: ServerConfiguration
    let logger: Logger

    public init(configuration: ServerConfiguration, logger: Logger) {
        self.configuration = configuration
        self.logger = logger
    }

    /// Every route the server registers, as `METHOD /path/{param}`: the API's, which the OpenAPI
    /// document must describe, and the gallery's HTML pages (``galleryRouteTable``).
    public static var routeTable: [String] { routes.map { "\($0.method.rawValue) \($0.path)" } }

    /// The web gallery's pages: HTML for people, not part of the versioned API, so not in docs/openapi.yaml.
    public static var galleryRouteTable: [String] { GalleryRoutes.routes.map { "\($0.method.rawValue) \($0.path)" } }

    /// The gallery's Mustache templates by name, as compiled into the binary.
    public static var galleryTemplates: [String: String] { GalleryTemplates.all }

    static var routes: [Route] {
        CatalogRoutes.routes + RunRoutes.routes + BlobRoutes.routes + WriteRoutes.routes + BatchStreamRoutes.routes
            + ServiceRoutes.routes + GalleryRoutes.routes
    }

    /// Opens the store, binds, and serves until SIGINT or SIGTERM; then stops accepting,
    /// lets requests in flight finish (batch streams end early, without their end frame, so
    /// clients reconnect with their cursor) and returns.
    /// - Parameter onListening: called with the bound port once the server accepts connections.
    public func run(onListening: @escaping @Sendable (Int) -> Void = { _ in }) async throws {
        let store = try StoreAccess(layout: configuration.store, createIfMissing: configuration.token != nil, open: configuration.openStore)
        let state = ServerState(configuration: configuration, store: store,
                                userQueries: UserQueryPool(capacity: configuration.sqlConcurrency, timeout: configuration.sqlTimeout),
                                auth: WriteAuthorization(token: configuration.token), metrics: ServerMetrics.shared, logger: logger,
                                streams: StreamLimiter(limit: configuration.maxStreams))
        let router = Router(context: BasicRequestContext.self, options: [.autoGenerateHeadEndpoints])
        router.add(middleware: RequestObserverMiddleware(metrics: state.metrics))
        router.add(middleware: ErrorMiddleware())
        router.add(middleware: HostGuardMiddleware(policy: HostPolicy(boundHost: configuration.host, allowed: configuration.allowedHosts)))
        router.add(middleware: PathGuardMiddleware())
        for route in Self.routes where !route.writes {
            register(route, on: router, state: state)
        }
        let writes = router.group().add(middleware: WriteAuthorizationMiddleware(authorization: state.auth))
        for route in Self.routes where route.writes {
            register(route, on: writes, state: state)
        }
        let logger = self.logger
        let app = Application(
            router: router,
            server: LoomHTTP1Channel.server(),
            configuration: .init(address: .hostname(configuration.host, port: configuration.port), serverName: "loom"),
            onServerRunning: { channel in
                let port = channel.localAddress?.port ?? 0
                logger.info("listening", metadata: ["url": "http://\(Self.urlHost(channel.localAddress?.ipAddress ?? "?")):\(port)"])
                onListening(port)
            },
            logger: logger)
        try await app.runService()
        logger.info("stopped")
    }

    private func register(_ route: Route, on router: some RouterMethods<BasicRequestContext>, state: ServerState) {
        let handler = route.handler
        router.on(RouterPath(route.path), method: route.method) { request, context in
            try await handler(request, context, state)
        }
    }

    static func urlHost(_ address: String) -> String { address.contains(":") ? "[\(address)]" : address }
}
