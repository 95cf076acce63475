import Foundation
import Hummingbird
import Logging
import LoomLoader
import LoomStore

/// An error answered as `{"error": "..."}` with its status: every failure a client sees says
/// what went wrong in words, and for a bad parameter, which parameter.
struct APIError: Error, HTTPResponseError, CustomStringConvertible {
    var status: HTTPResponse.Status
    var message: String
    var headers: HTTPFields = [:]

    init(_ status: HTTPResponse.Status, _ message: String, headers: HTTPFields = [:]) {
        self.status = status
        self.message = message
        self.headers = headers
    }

    var description: String { "\(status.code) \(message)" }

    static func badParameter(_ name: String, _ problem: String) -> APIError {
        APIError(.badRequest, "parameter \(name): \(problem)")
    }

    func response(from request: Request, context: some RequestContext) throws -> Response {
        var response = JSONBody.response(status: status, ErrorBody(error: message))
        response.headers.append(contentsOf: headers)
        return response
    }

    struct ErrorBody: Encodable { var error: String }

    /// The HTTP status of each error code (docs/catalog-boundary.md): decided by the code, never the message.
    static func status(for code: LoomErrorCode) -> HTTPResponse.Status {
        switch code {
        case .notFound: .notFound
        case .invalidInput: .badRequest
        case .conflict: .conflict
        case .unavailable: .serviceUnavailable
        case .corrupt, .internal: .internalServerError
        }
    }

    /// The HTTP reading of an error thrown by the store, the loader, the pipeline or ingest.
    static func from(_ error: any Error) -> APIError {
        switch error {
        case let error as APIError:
            return error
        case let error as HTTPError:
            return APIError(error.status, error.body ?? error.status.reasonPhrase, headers: error.headers)
        case let error as any CodedError:
            return APIError(status(for: error.errorCode), error.description)
        default:
            return APIError(.internalServerError, "internal error: \(error)")
        }
    }
}

/// Turns every error below it (handlers, routing, body limits) into a JSON error response.
struct ErrorMiddleware<Context: RequestContext>: RouterMiddleware {
    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch {
            let apiError = APIError.from(error)
            if apiError.status.code >= 500 {
                context.logger.error("request failed", metadata: ["error": "\(apiError.message)"])
            }
            return try apiError.response(from: request, context: context)
        }
    }
}
