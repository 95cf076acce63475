import Foundation
import Hummingbird
import LoomStore

/// Health, metrics and the API's own description.
enum ServiceRoutes {
    static let routes: [Route] = [
        Route(.get, "/healthz", health),
        Route(.get, "/metrics", metrics),
        Route(.get, "/v1/openapi.yaml", openAPI),
    ]

    struct Health: Encodable, Sendable {
        var status: String
        var store: String
        var schemaVersion: Int
        var writes: Bool
        enum CodingKeys: String, CodingKey { case status, store, writes, schemaVersion = "schema_version" }
    }

    /// 200 while the catalog answers a query, 503 when it does not.
    static func health(_ request: Request, _ context: BasicRequestContext, _ state: ServerState) async throws -> Response {
        _ = try QueryParameters(request, allowed: [])
        do {
            let version = try await state.store.read { store in
                try store.read { try $0.info.schemaVersion() }
            }
            return JSONBody.response(Health(status: "ok", store: state.store.layout.root, schemaVersion: version,
                                            writes: state.auth.writesEnabled))
        } catch {
            throw APIError(.serviceUnavailable, "the catalog does not answer: \(error)")
        }
    }

    static func metrics(_ request: Request, _ context: BasicRequestContext, _ state: ServerState) async throws -> Response {
        _ = try QueryParameters(request, allowed: [])
        return Response(status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                        body: ResponseBody(byteBuffer: ByteBuffer(bytes: state.metrics.exposition())))
    }

    static func openAPI(_ request: Request, _ context: BasicRequestContext, _ state: ServerState) async throws -> Response {
        _ = try QueryParameters(request, allowed: [])
        return Response(status: .ok, headers: [.contentType: "application/yaml; charset=utf-8"],
                        body: ResponseBody(byteBuffer: ByteBuffer(string: OpenAPIDocument.yaml)))
    }
}
