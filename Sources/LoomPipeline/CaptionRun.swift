import Foundation
import GRDB
import LoomStore

/// `loom caption`: one caption per real image per captioner.
///
/// Only images without a caption from this captioner (name + params) are read and sent, in
/// batches; each batch's captions commit together, so an interrupted run keeps what it finished
/// and the next run sends only the rest. An image the captioner fails on is reported and left
/// uncaptioned (a later run tries it again).
public enum CaptionRun {
    public struct Failure: Codable, Sendable, Hashable {
        public var path: String
        public var error: String
    }

    public struct Summary: Codable, Sendable {
        public var captioner: String
        public var backend: String
        public var captioned: Int
        /// Images that already had a caption from this captioner.
        public var skipped: Int
        public var failed: [Failure]
        public var seconds: Double
        /// What each worker did (one entry for a one-worker run).
        public var workers: [WorkerReport]? = nil
    }

    /// An image still to caption, as plain values a worker thread can read.
    struct Pending: Sendable {
        var id: Int64
        var path: String
        var digest: Digest
        var mediaType: String
    }

    /// One batch as a worker answered it: the images it could read and their results.
    struct Answer {
        var inputs: [CaptionInput] = []
        var paths: [String] = []
        var unreadable: [Failure] = []
        var results: [Result<String, any Error>] = []
        var perImage: Double = 0
    }

    public static func run(writer: StoreWriter, dataset: String, split: String? = nil, captioner: any Captioner,
                           batchSize: Int = 16, progress: ((_ done: Int, _ total: Int) -> Void)? = nil) throws -> Summary {
        try run(writer: writer, dataset: dataset, split: split, captioners: WorkerSet(captioner), batchSize: batchSize,
                progress: progress)
    }

    /// `captioners`: one per worker, all with the same identity; batches go to whichever is free
    /// and are committed here, one at a time, as they come back.
    public static func run(writer: StoreWriter, dataset: String, split: String? = nil, captioners: WorkerSet<any Captioner>,
                           batchSize: Int = 16, progress: ((_ done: Int, _ total: Int) -> Void)? = nil,
                           workerProgress: (([WorkerReport]) -> Void)? = nil) throws -> Summary {
        let start = ContinuousClock.now
        let captioner = captioners.first
        let store = writer.store
        var summary = Summary(captioner: captioner.name, backend: captioner.backend, captioned: 0, skipped: 0, failed: [], seconds: 0)
        let params = captioner.params.merging(["version": captioner.version]) { current, _ in current }
        let (captionerID, todo, skipped) = try writer.commit { db, _ -> (Int64, [Row], Int) in
            guard let datasetID = try DatasetCatalog.datasetID(db, name: dataset) else {
                throw PipelineError("no dataset named \"\(dataset)\"")
            }
            var splitFilter = ""
            var arguments: StatementArguments = [datasetID]
            if let split {
                guard try Int64.fetchOne(db, sql: "SELECT id FROM splits WHERE dataset_id = ? AND name = ?", arguments: [datasetID, split]) != nil else {
                    throw PipelineError("dataset \"\(dataset)\" has no split \"\(split)\"")
                }
                splitFilter = " AND s.name = ?"
                arguments += [split]
            }
            let id = try Captioners.ensure(db, name: captioner.name, params: params, backend: captioner.backend)
            let rows = try Row.fetchAll(db, sql: """
                SELECT r.id, r.path, b.digest, b.media_type, EXISTS (
                    SELECT 1 FROM captions c WHERE c.real_image_id = r.id AND c.captioner_id = ?) AS done
                FROM real_images r JOIN splits s ON s.id = r.split_id JOIN blobs b ON b.id = r.blob_id
                WHERE s.dataset_id = ?\(splitFilter) ORDER BY r.id
                """, arguments: [id] + arguments)
            let todo = rows.filter { !($0["done"] as Bool) }
            return (id, todo, rows.count - todo.count)
        }
        summary.skipped = skipped
        var done = 0
        let handed = captioners.backends.map { Handed(value: $0) }
        let blobs = store.blobs
        let pending = todo.map { Pending(id: $0["id"], path: $0["path"], digest: $0["digest"], mediaType: $0["media_type"]) }
        let pool = BatchPool<Pending, Answer>(items: pending, batchSize: batchSize, workers: handed.count) { worker, rows in
            var answer = Answer()
            for row in rows {
                do {
                    answer.inputs.append(CaptionInput(realImageID: row.id, bytes: try blobs.read(digest: row.digest), mediaType: row.mediaType))
                    answer.paths.append(row.path)
                } catch {
                    answer.unreadable.append(Failure(path: row.path, error: "cannot read the image: \(error)"))
                }
            }
            let batchStart = ContinuousClock.now
            answer.results = handed[worker].value.caption(answer.inputs)
            answer.perImage = (ContinuousClock.now - batchStart) / .seconds(1) / Double(max(1, answer.inputs.count))
            return answer
        }
        let (items, busy) = try pool.run(commit: { _, rows, answer in
            summary.failed += answer.unreadable
            let (inputs, paths, results, perImage) = (answer.inputs, answer.paths, answer.results, answer.perImage)
            guard results.count == inputs.count else {
                throw PipelineError("captioner \(captioner.name) returned \(results.count) results for \(inputs.count) images")
            }
            try writer.commit { db, _ in
                let insert = try db.cachedStatement(sql: """
                    INSERT INTO captions (real_image_id, captioner_id, text, seconds) VALUES (?, ?, ?, ?)
                    ON CONFLICT (real_image_id, captioner_id) DO NOTHING
                    """)
                for (index, result) in results.enumerated() {
                    switch result {
                    case .success(let text):
                        let tidy = text.trimmingCharacters(in: .whitespacesAndNewlines)
                        guard !tidy.isEmpty else {
                            summary.failed.append(Failure(path: paths[index], error: "empty caption"))
                            continue
                        }
                        try insert.execute(arguments: [inputs[index].realImageID, captionerID, tidy, perImage])
                        summary.captioned += 1
                    case .failure(let error):
                        summary.failed.append(Failure(path: paths[index], error: "\(error)"))
                    }
                }
            }
            done += rows.count
            progress?(done, todo.count)
            return []
        }, progress: { items, busy in
            workerProgress?(WorkerReport.list(devices: captioners.devices, items: items, busy: busy,
                                              restarts: Array(repeating: 0, count: items.count)))
        })
        summary.workers = WorkerReport.list(devices: captioners.devices, items: items, busy: busy,
                                            restarts: captioners.backends.map(restartCount))
        summary.seconds = (ContinuousClock.now - start) / .seconds(1)
        return summary
    }
}
