import Foundation
import HTTPTypes
import Hummingbird
import LoomStore
import Mustache

/// The web gallery: server-rendered HTML pages for people, beside the JSON API for programs.
///
/// `/` datasets and their classes; `/datasets/{name}` each class with sample thumbnails, real
/// and synthetic; `/images/{digest}` an image's lineage (a real image with its captions, the
/// prompts made from each and the images each prompt produced; a synthetic image with its
/// prompt, caption and real source); `/runs` and `/runs/{id}` runs with an experiment's models,
/// chart and per-class accuracy or a training run's epochs. Images are `<img src="/v1/blobs/...">`.
///
/// These pages are not part of the versioned API (they may change with the templates), so
/// docs/openapi.yaml does not describe them; ``LoomServer/galleryRouteTable`` lists them.
enum GalleryRoutes {
    static let routes: [Route] = [
        Route(.get, "/", index),
        Route(.get, "/datasets/{name}", dataset),
        Route(.get, "/images/{digest}", image),
        Route(.get, "/runs", runs),
        Route(.get, "/runs/{id}", run),
        Route(.get, "/runs/{id}/chart.svg", chart),
    ]

    /// No script runs on these pages, and nothing but this server's own images and inline styles
    /// loads: escaping is the first line against injected markup, this the second.
    static let contentSecurityPolicy =
        "default-src 'none'; img-src 'self'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

    static func index(_ request: Request, _ context: BasicRequestContext, _ state: ServerState) async throws -> Response {
        await html {
            _ = try QueryParameters(request, allowed: [])
            return ("index", try await state.store.read { try GalleryPages.index($0) })
        }
    }

    static func dataset(_ request: Request, _ context: BasicRequestContext, _ state: ServerState) async throws -> Response {
        await html {
            _ = try QueryParameters(request, allowed: [])
            let name = try context.pathParameter("name")
            try QueryParameters.checkName(name, parameter: "name")
            return ("dataset", try await state.store.read { try GalleryPages.dataset($0, name: name) })
        }
    }

    static func image(_ request: Request, _ context: BasicRequestContext, _ state: ServerState) async throws -> Response {
        await html {
            _ = try QueryParameters(request, allowed: [])
            let digest = try CatalogRoutes.digestParameter(context)
            return ("image", try await state.store.read { try GalleryPages.image($0, digest: digest) })
        }
    }

    static func runs(_ request: Request, _ context: BasicRequestContext, _ state: ServerState) async throws -> Response {
        await html {
            _ = try QueryParameters(request, allowed: [])
            return ("runs", try await state.store.read { try GalleryPages.runs($0) })
        }
    }

    static func run(_ request: Request, _ context: BasicRequestContext, _ state: ServerState) async throws -> Response {
        await html {
            _ = try QueryParameters(request, allowed: [])
            let id = try RunRoutes.runID(context)
            let reports = state.configuration.reportsDirectory
            return ("run", try await state.store.read { try GalleryPages.run($0, id: id, reportsDirectory: reports) })
        }
    }

    /// Largest chart served; a report.svg is a few kilobytes.
    static let maxChartBytes = 8 << 20

    /// `report.svg` of an experiment's report folder, and nothing else (``GalleryPages/chartPath(_:reportsDirectory:)``).
    static func chart(_ request: Request, _ context: BasicRequestContext, _ state: ServerState) async throws -> Response {
        _ = try QueryParameters(request, allowed: [])
        let id = try RunRoutes.runID(context)
        let reports = state.configuration.reportsDirectory
        let data = try await state.store.read { store -> Data in
            let run = try store.read { try $0.runs.requireRun(id: id) }
            let path = try GalleryPages.chartPath(RunRoutes.RunEntry(run), reportsDirectory: reports).get()
            guard let handle = FileHandle(forReadingAtPath: path) else { throw APIError(.notFound, "cannot open \(path)") }
            defer { try? handle.close() }
            let data = try handle.read(upToCount: maxChartBytes + 1) ?? Data()
            guard data.count <= maxChartBytes else { throw APIError(.internalServerError, "\(path) is larger than \(maxChartBytes) bytes") }
            return data
        }
        return Response(status: .ok, headers: [
            .contentType: "image/svg+xml",
            .contentSecurityPolicy: "default-src 'none'; style-src 'unsafe-inline'",
            HTTPField.Name("X-Content-Type-Options")!: "nosniff",
            .cacheControl: "no-cache",
        ], body: ResponseBody(byteBuffer: ByteBuffer(bytes: data)))
    }

    /// Renders the page `build` returns; an error renders the error page with its status.
    static func html(_ build: () async throws -> (template: String, page: Any)) async -> Response {
        let status: HTTPResponse.Status, text: String
        do {
            let (template, page) = try await build()
            status = .ok
            text = render(template, page)
        } catch {
            let failure = APIError.from(error)
            status = failure.status
            text = render("error", GalleryPages.ErrorPage(status: "\(failure.status.code) \(failure.status.reasonPhrase)", message: failure.message))
        }
        return Response(status: status, headers: [
            .contentType: "text/html; charset=utf-8",
            .contentSecurityPolicy: contentSecurityPolicy,
            HTTPField.Name("X-Content-Type-Options")!: "nosniff",
            .cacheControl: "no-cache",
        ], body: ResponseBody(byteBuffer: ByteBuffer(string: text)))
    }

    static func render(_ template: String, _ page: Any) -> String {
        GalleryTemplates.library.render(page, withTemplate: template) ?? "<!doctype html><p>no template \(template)</p>"
    }
}
