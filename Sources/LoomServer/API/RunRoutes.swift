import Foundation
import GRDB
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

        init(row: Row) {
            id = row["id"]
            stage = row["stage"]
            dataset = row["dataset"]
            status = row["status"]
            config = JSONValue(parsing: row["config"])
            summary = JSONValue(parsing: row["summary"])
            startedAt = row["started_at"]
            finishedAt = row["finished_at"]
            parentID = row["parent_id"]
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

    static let runColumns = """
        SELECT r.id, r.stage, d.name AS dataset, r.status, r.config, r.summary, r.started_at, r.finished_at, r.parent_id
        FROM runs r LEFT JOIN datasets d ON d.id = r.dataset_id
        """

    static func list(_ request: Request, _ context: BasicRequestContext, _ state: ServerState) async throws -> Response {
        let query = try QueryParameters(request, allowed: ["stage", "status", "offset", "limit"])
        let stage = try query.name("stage"), status = try query.name("status")
        let (offset, limit) = try CatalogRoutes.paging(query)
        let page = try await state.store.read { store in
            try store.catalog.read { db in
                let rows = try Row.fetchAll(db, sql: runColumns + """
                     WHERE (? IS NULL OR r.stage = ?) AND (? IS NULL OR r.status = ?) ORDER BY r.id DESC LIMIT ? OFFSET ?
                    """, arguments: [stage, stage, status, status, limit + 1, offset])
                return CatalogRoutes.Page(items: rows.prefix(limit).map(RunEntry.init(row:)), key: "runs", offset: offset,
                                          limit: limit, nextOffset: rows.count > limit ? offset + limit : nil)
            }
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
        try store.catalog.read { db in
            guard let row = try Row.fetchOne(db, sql: runColumns + " WHERE r.id = ?", arguments: [id]) else {
                throw APIError(.notFound, "no run with id \(id)")
            }
            let datasetID = try Int64.fetchOne(db, sql: "SELECT dataset_id FROM runs WHERE id = ?", arguments: [id])
            let epochs = try Row.fetchAll(db, sql: "SELECT * FROM train_epochs WHERE run_id = ? ORDER BY epoch", arguments: [id]).map {
                Epoch(epoch: $0["epoch"], loss: $0["loss"], trainTop1: $0["train_top1"], evalTop1: $0["eval_top1"],
                      evalTop5: $0["eval_top5"], imagesPerS: $0["images_per_s"], seconds: $0["seconds"])
            }
            let evalClasses = try Row.fetchAll(db, sql: """
                SELECT e.label, e.correct, e.total, c.wnid, c.name
                FROM eval_classes e LEFT JOIN classes c ON c.dataset_id = ? AND c.label = e.label
                WHERE e.run_id = ? ORDER BY e.label
                """, arguments: [datasetID, id]).map { row -> EvalClass in
                let correct: Int = row["correct"], total: Int = row["total"]
                return EvalClass(label: row["label"], wnid: row["wnid"], name: row["name"], correct: correct, total: total,
                                 accuracy: total > 0 ? Double(correct) / Double(total) : 0)
            }
            let checkpoints = try Row.fetchAll(db, sql: """
                SELECT k.epoch, lower(hex(b.digest)) AS digest, k.cursor, k.created_at
                FROM checkpoints k JOIN blobs b ON b.id = k.blob_id WHERE k.run_id = ? ORDER BY k.epoch
                """, arguments: [id]).map {
                Checkpoint(epoch: $0["epoch"], digest: $0["digest"], cursor: $0["cursor"], createdAt: $0["created_at"])
            }
            let children = try Int64.fetchAll(db, sql: "SELECT id FROM runs WHERE parent_id = ? ORDER BY id", arguments: [id])
            return Detail(run: RunEntry(row: row), epochs: epochs, evalClasses: evalClasses, checkpoints: checkpoints, children: children)
        }
    }
}
