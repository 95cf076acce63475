import Hummingbird

/// The bearer-token check in front of the write routes (the router group they are registered
/// on), so no write handler can run without it and none repeats it.
///
/// It reads only the headers and passes the request on as it came: `request.body` must stay
/// the server's own stream, which a handler may still consume with its inbound-close handler.
struct WriteAuthorizationMiddleware: RouterMiddleware {
    typealias Context = BasicRequestContext
    let authorization: WriteAuthorization

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        try authorization.check(request)
        return try await next(request, context)
    }
}
