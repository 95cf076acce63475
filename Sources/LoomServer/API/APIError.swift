import Foundation
import Hummingbird
import Logging
import LoomIngest
import LoomLoader
import LoomPipeline
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

    /// The HTTP reading of an error thrown by the store, the loader, the pipeline or ingest.
    static func from(_ error: any Error) -> APIError {
        switch error {
        case let error as APIError:
            return error
        case let error as HTTPError:
            return APIError(error.status, error.body ?? error.status.reasonPhrase, headers: error.headers)
        case let error as StoreError:
            switch error.code {
            case .notFound: return APIError(.notFound, error.description)
            case .ambiguous, .invalidArgument: return APIError(.badRequest, error.description)
            case .locked: return APIError(.conflict, error.description)
            case .noStore, .schema: return APIError(.serviceUnavailable, error.description)
            default: return APIError(.internalServerError, error.description)
            }
        case let error as LoaderError:
            // The loader names what is missing in its message; a missing dataset, split or
            // class is a 404, anything else it refuses is a bad request.
            let missing = ["no dataset named", "has no split", "has no class", "has no images"]
            let isMissing = missing.contains { error.message.contains($0) }
            return APIError(isMissing ? .notFound : .badRequest, error.message)
        case let error as PipelineError:
            return APIError(error.description.hasPrefix("no dataset") ? .notFound : .badRequest, error.description)
        case let error as IngestError:
            return APIError(.badRequest, error.description)
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
