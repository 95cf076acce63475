import Foundation
import Hummingbird
import Logging
import LoomImage
import LoomIngest
import LoomPipeline
import LoomStore

/// The two writes: uploads into a dataset and caption imports. Both need the bearer token,
/// which ``WriteAuthorizationMiddleware`` checks before a byte of the body is read, and both are bounded by
/// `--max-upload-bytes` (413 past it).
enum WriteRoutes {
    static let routes: [Route] = [
        Route(.post, "/v1/ingest", writes: true, ingest),
        Route(.post, "/v1/captions", writes: true, captions),
    ]

    /// Reads the whole body, refusing it with 413 once it passes `limit` (announced or not).
    static func collectBody(_ request: Request, limit: Int, route: String, state: ServerState) async throws -> [UInt8] {
        if let announced = request.headers[.contentLength].flatMap(Int.init), announced > limit {
            throw APIError(.contentTooLarge, "the request body is \(announced) bytes, over this server's limit of \(limit) (--max-upload-bytes)")
        }
        var bytes: [UInt8] = []
        for try await buffer in request.body {
            guard bytes.count + buffer.readableBytes <= limit else {
                throw APIError(.contentTooLarge, "the request body passed this server's limit of \(limit) bytes (--max-upload-bytes)")
            }
            bytes.append(contentsOf: buffer.readableBytesView)
        }
        state.metrics.requestBytes(bytes.count, route: route)
        return bytes
    }

    /// A fresh scratch folder outside the store (a writer empties STORE/tmp when it opens).
    static func makeScratch() throws -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("loom-serve-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }

    // MARK: - POST /v1/ingest

    /// `multipart/form-data`, one part per file (any field name; each part needs a filename),
    /// into `dataset`/`split`/`class` from the query. The files are validated exactly as
    /// `loom ingest` validates them (the same `Ingestor`): bad ones come back in `rejected` with
    /// the file and the reason while the rest go in; a file uploaded again under the same name
    /// with other bytes updates that image, and no stored bytes are removed.
    static func ingest(_ request: Request, _ context: BasicRequestContext, _ state: ServerState) async throws -> Response {
        let query = try QueryParameters(request, allowed: ["dataset", "split", "class"])
        let dataset = try query.requiredName("dataset")
        let split = try query.name("split") ?? "train"
        let className = try query.requiredName("class")
        for (name, value) in [("dataset", dataset), ("split", split), ("class", className)] where value.hasPrefix(".") {
            throw APIError.badParameter(name, "\"\(value)\" starts with '.' (hidden names are not dataset members)")
        }
        guard let contentType = request.headers[.contentType], let boundary = MultipartForm.boundary(contentType: contentType) else {
            throw APIError(.unsupportedMediaType, "send the files as multipart/form-data (one part per file, each with a filename)")
        }
        let body = try await collectBody(request, limit: state.configuration.maxUploadBytes, route: "/v1/ingest", state: state)
        let form: MultipartForm
        do {
            form = try MultipartForm(body: body, boundary: boundary)
        } catch let error as MultipartForm.ParseError {
            throw APIError(.badRequest, error.description)
        }
        guard !form.parts.isEmpty else { throw APIError(.badRequest, "the upload holds no files") }
        // Byte-exact, as the file system compares: NFC and NFD spellings are two files, not a repeat.
        var names: Set<ExactName> = []
        for part in form.parts {
            guard let filename = part.filename, !filename.isEmpty else {
                throw APIError(.badRequest, "part \"\(part.name)\" has no filename; every part must be a file")
            }
            if PathGuard.isTraversal(filename) {
                throw APIError(.badRequest, "refused: filename \"\(filename)\" is a path; give a plain file name")
            }
            if filename.hasPrefix(".") { throw APIError(.badRequest, "filename \"\(filename)\" starts with '.' (hidden files are not dataset members)") }
            if filename.utf8.count > 255 { throw APIError(.badRequest, "filename \"\(filename.prefix(40))...\" is longer than 255 bytes") }
            guard names.insert(ExactName(filename)).inserted else { throw APIError(.badRequest, "filename \"\(filename)\" appears twice in one upload") }
        }
        let maxFileBytes = min(state.configuration.maxUploadBytes, Ingestor.Options(dataset: dataset).maxFileBytes)
        let workers = state.configuration.loaderWorkers
        // The parts are the class folder's files, ingested from memory as `loom ingest` reads a folder.
        let source = try InMemorySource(root: "upload", entries: form.parts.map {
            InMemorySource.Entry(path: className + "/" + $0.filename!, bytes: Array($0.bytes))
        })
        let summary = try await state.store.write { store in
            try Ingestor(store: store, options: .init(dataset: dataset, split: split, workers: workers, maxFileBytes: maxFileBytes))
                .run(source: source)
        }
        state.logger.info("ingest upload", metadata: [
            "dataset": "\(dataset)", "split": "\(split)", "class": "\(className)", "files": "\(form.parts.count)",
            "added": "\(summary.added)", "rejected": "\(summary.rejected.count)",
        ])
        return JSONBody.response(summary)
    }

    // MARK: - POST /v1/captions

    /// The body is the JSON-lines file `loom caption import` reads: one
    /// `{"path"|"digest": ..., "caption": ...}` per line.
    static func captions(_ request: Request, _ context: BasicRequestContext, _ state: ServerState) async throws -> Response {
        let query = try QueryParameters(request, allowed: ["dataset", "captioner"])
        let dataset = try query.requiredName("dataset")
        let captioner = try query.requiredName("captioner")
        let body = try await collectBody(request, limit: state.configuration.maxUploadBytes, route: "/v1/captions", state: state)
        guard String(validating: body, as: UTF8.self) != nil else { throw APIError(.badRequest, "the captions body is not UTF-8 text") }
        let scratch = try makeScratch()
        defer { try? FileManager.default.removeItem(atPath: scratch) }
        let file = scratch + "/captions.jsonl"
        guard FileManager.default.createFile(atPath: file, contents: Data(body)) else {
            throw APIError(.internalServerError, "cannot write the captions to a scratch folder")
        }
        let summary = try await state.store.write { store in
            _ = try store.read { try $0.datasets.requireDataset(named: dataset) }  // a 404, not the import's 400
            return try CaptionImport.run(writer: try store.makeWriter(), file: file, dataset: dataset, captioner: captioner)
        }
        state.logger.info("captions import", metadata: [
            "dataset": "\(dataset)", "captioner": "\(captioner)", "imported": "\(summary.imported)", "failed": "\(summary.failed.count)",
        ])
        return JSONBody.response(summary)
    }
}
