import Foundation
import Hummingbird
import Logging

/// One structured log line and one set of Prometheus samples per request. Outermost, so it
/// sees the final status of every request, errors included (the error middleware sits inside).
struct RequestObserverMiddleware<Context: RequestContext>: RouterMiddleware {
    let metrics: ServerMetrics

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let start = ContinuousClock.now
        let response = try await next(request, context)
        let elapsed = ContinuousClock.now - start
        // The route pattern, not the path: bounded label values for Prometheus.
        let route = context.endpointPath ?? "unmatched"
        let method = request.method.rawValue
        metrics.request(method: method, route: route, status: response.status.code, duration: elapsed,
                        requestBytes: 0, responseBytes: response.body.contentLength)
        let level: Logger.Level = response.status.code >= 500 ? .error : .info
        context.logger.log(level: level, "request", metadata: [
            "method": "\(method)",
            "path": "\(request.uri.path)",
            "route": "\(route)",
            "status": "\(response.status.code)",
            "bytes": "\(response.body.contentLength.map(String.init) ?? "stream")",
            "ms": "\(String(format: "%.2f", Double(elapsed.components.attoseconds) / 1e15 + Double(elapsed.components.seconds) * 1000))",
        ])
        return response
    }
}
