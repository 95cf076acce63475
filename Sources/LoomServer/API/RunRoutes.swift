import Foundation
import Hummingbird
import LoomStore

/// Runs (ingest, caption, generate, train, experiment) and the metrics a training run records
/// (schema/0004_training.sql: train_epochs, eval_classes, checkpoints).
enum RunRoutes {
    static let routes: [Route] = [
        Route(.get, "/v1/runs", list),
        Route(.get, "/v1/runs/{id}", detail),
        Route(.get, "/v1/runs/{id}/metrics", metrics),
    ]

    struct RunEntry: Encodable, Sendable {
        var id: Int64
        var stage: String
        var dataset: String?
        var status: String
        var config: JSONValue
        var summary: JSONValue
        var startedAt: String
        var finishedAt: String?
        var parentID: Int64?

        /// The run's name where its config gives one (experiments and train runs name their
        /// report folder with it).
        var name: String? { config["name"]?.stringValue }

        enum CodingKeys: String, CodingKey {
            case id, stage, dataset, status, config, summary, name
            case startedAt = "started_at", finishedAt = "finished_at", parentID = "parent_id"
        }

        func encode(to encoder: any Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(id, forKey: .id)
            try c.encode(stage, forKey: .stage)
            try c.encode(dataset, forKey: .dataset)
            try c.encode(status, forKey: .status)
            try c.encode(name, forKey: .name)
            try c.encode(config, forKey: .config)
            try c.encode(summary, forKey: .summary)
            try c.encode(startedAt, forKey: .startedAt)
            try c.encode(finishedAt, forKey: .finishedAt)
            try c.encode(parentID, forKey: .parentID)
        }

        init(_ run: RunRecord) {
            id = run.id
            stage = run.stage.rawValue
            dataset = run.dataset
            status = run.status.rawValue
            config = JSONValue(parsing: run.config)
            summary = JSONValue(parsing: run.summary)
            startedAt = run.startedAt
            finishedAt = run.finishedAt
            parentID = run.parentID
        }
    }

    struct Epoch: Encodable, Sendable {
        var epoch: Int
        var loss: Double
        var trainTop1: Double
        var evalTop1: Double?
        var evalTop5: Double?
        var imagesPerS: Double
        var seconds: Double

        enum CodingKeys: String, CodingKey {
            case epoch, loss, seconds
            case trainTop1 = "train_top1", evalTop1 = "eval_top1", evalTop5 = "eval_top5", imagesPerS = "images_per_s"
        }

        func encode(to encoder: any Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(epoch, forKey: .epoch)
            try c.encode(loss, forKey: .loss)
            try c.encode(trainTop1, forKey: .trainTop1)
            try c.encode(evalTop1, forKey: .evalTop1)
            try c.encode(evalTop5, forKey: .evalTop5)
            try c.encode(imagesPerS, forKey: .imagesPerS)
            try c.encode(seconds, forKey: .seconds)
        }
    }

    struct EvalClass: Encodable, Sendable {
        var label: Int
        var wnid: String?
        var name: String?
        var correct: Int
        var total: Int
        var accuracy: Double

        func encode(to encoder: any Encoder) throws {
            enum K: String, CodingKey { case label, wnid, name, correct, total, accuracy }
            var c = encoder.container(keyedBy: K.self)
            try c.encode(label, forKey: .label)
            try c.encode(wnid, forKey: .wnid)
            try c.encode(name, forKey: .name)
            try c.encode(correct, forKey: .correct)
            try c.encode(total, forKey: .total)
            try c.encode(accuracy, forKey: .accuracy)
        }
    }

    struct Checkpoint: Encodable, Sendable {
        var epoch: Int
        var digest: String
        var cursor: String
        var createdAt: String
        enum CodingKeys: String, CodingKey { case epoch, digest, cursor, createdAt = "created_at" }
    }

    struct Metrics: Encodable, Sendable {
        var runID: Int64
        var epochs: [Epoch]
        var evalClasses: [EvalClass]
        enum CodingKeys: String, CodingKey { case runID = "run_id", epochs, evalClasses = "eval_classes" }
    }

    struct Detail: Encodable, Sendable {
        var run: RunEntry
        var epochs: [Epoch]
        var evalClasses: [EvalClass]
        var checkpoints: [Checkpoint]
        var children: [Int64]
        enum CodingKeys: String, CodingKey { case run, epochs, checkpoints, children, evalClasses = "eval_classes" }
    }

    static func list(_ request: Request, _ context: BasicRequestContext, _ state: ServerState) async throws -> Response {
        let query = try QueryParameters(request, allowed: ["stage", "status", "offset", "limit"])
        let stage = try query.name("stage"), status = try query.name("status")
        let (offset, limit) = try CatalogRoutes.paging(query)
        let page = try await state.store.read { store in
            let runs = try store.read { catalog in
                try catalog.runs.runs(RunFilter(stage: stage.map(RunStage.init(rawValue:)), status: status.map(RunStatus.init(rawValue:))),
                                      offset: offset, limit: limit + 1)
            }
            return CatalogRoutes.Page(items: runs.prefix(limit).map(RunEntry.init), key: "runs", offset: offset,
                                      limit: limit, nextOffset: runs.count > limit ? offset + limit : nil)
        }
        return JSONBody.response(page)
    }

    static func runID(_ context: BasicRequestContext) throws -> Int64 {
        let text = try context.pathParameter("id")
        guard let id = Int64(text), id > 0 else { throw APIError.badParameter("id", "\"\(text)\" is not a run id (a positive integer)") }
        return id
    }

    static func detail(_ request: Request, _ context: BasicRequestContext, _ state: ServerState) async throws -> Response {
        _ = try QueryParameters(request, allowed: [])
        let id = try runID(context)
        return JSONBody.response(try await state.store.read { try load($0, id: id) })
    }

    static func metrics(_ request: Request, _ context: BasicRequestContext, _ state: ServerState) async throws -> Response {
        _ = try QueryParameters(request, allowed: [])
        let id = try runID(context)
        let detail = try await state.store.read { try load($0, id: id) }
        return JSONBody.response(Metrics(runID: id, epochs: detail.epochs, evalClasses: detail.evalClasses))
    }

    static func load(_ store: Store, id: Int64) throws -> Detail {
        try store.read { catalog in
            let run = try catalog.runs.requireRun(id: id)
            let epochs = try catalog.training.epochs(of: id).map {
                Epoch(epoch: $0.epoch, loss: $0.loss, trainTop1: $0.trainTop1, evalTop1: $0.evalTop1,
                      evalTop5: $0.evalTop5, imagesPerS: $0.imagesPerSecond, seconds: $0.seconds)
            }
            let evalClasses = try catalog.training.evalClasses(of: id).map {
                EvalClass(label: $0.label, wnid: $0.wnid, name: $0.name, correct: $0.correct, total: $0.total,
                          accuracy: $0.total > 0 ? Double($0.correct) / Double($0.total) : 0)
            }
            let checkpoints = try catalog.training.checkpoints(of: id).map {
                Checkpoint(epoch: $0.epoch, digest: $0.digest.hex, cursor: $0.cursor, createdAt: $0.createdAt)
            }
            return Detail(run: RunEntry(run), epochs: epochs, evalClasses: evalClasses, checkpoints: checkpoints,
                          children: try catalog.runs.children(of: id))
        }
    }
}
