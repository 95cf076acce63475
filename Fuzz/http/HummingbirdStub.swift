// The part of Hummingbird that QueryParameters.swift uses, so the fuzz build compiles that file
// unchanged without swift-nio. The URI parser itself is Hummingbird's own: tools/fuzz compiles
// URI.swift and its helpers from the package checkout into this same module.
public struct Request: Sendable {
    public var uri: URI
    public init(uri: URI) { self.uri = uri }
}

public protocol RequestContext {}

public struct Response {}

public protocol RouterMiddleware<Context> {
    associatedtype Context
    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response
}
