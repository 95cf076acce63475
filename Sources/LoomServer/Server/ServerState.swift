import Hummingbird
import Logging
import LoomStore

/// Everything a handler needs, shared by all requests.
struct ServerState: Sendable {
    let configuration: ServerConfiguration
    let store: StoreAccess
    /// User SQL's own slots and connections, apart from the store's.
    let userQueries: UserQueryPool
    let auth: WriteAuthorization
    let metrics: ServerMetrics
    let logger: Logger
    let streams: StreamLimiter
}

/// One endpoint: its method, its path pattern (OpenAPI's `{name}` form, which Hummingbird's
/// router accepts as is) and its handler. The table in ``Routes`` is what the server
/// registers and what the OpenAPI test compares with docs/openapi.yaml.
struct Route: Sendable {
    typealias Handler = @Sendable (Request, BasicRequestContext, ServerState) async throws -> Response
    let method: HTTPRequest.Method
    let path: String
    /// A write: registered behind ``WriteAuthorizationMiddleware``, so it runs only with the bearer token.
    let writes: Bool
    let handler: Handler

    init(_ method: HTTPRequest.Method, _ path: String, writes: Bool = false, _ handler: @escaping Handler) {
        self.method = method
        self.path = path
        self.writes = writes
        self.handler = handler
    }
}

extension BasicRequestContext {
    /// A path parameter, percent-decoded (the router hands them over raw).
    func pathParameter(_ name: String) throws -> String {
        let raw = try parameters.require(name)
        guard let decoded = QueryParameters.decode(raw[...]) else {
            throw APIError.badParameter(name, "is not valid percent-encoded UTF-8")
        }
        return decoded
    }
}
