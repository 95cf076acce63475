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
    }

    public static func run(writer: StoreWriter, dataset: String, split: String? = nil, captioner: any Captioner,
                           batchSize: Int = 16, progress: ((_ done: Int, _ total: Int) -> Void)? = nil) throws -> Summary {
        let start = ContinuousClock.now
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
        let batchSize = max(1, batchSize)
        var done = 0
        for first in stride(from: 0, to: todo.count, by: batchSize) {
            let rows = Array(todo[first..<min(first + batchSize, todo.count)])
            var inputs: [CaptionInput] = []
            var paths: [String] = []
            for row in rows {
                let digest: Digest = row["digest"]
                let path: String = row["path"]
                do {
                    inputs.append(CaptionInput(realImageID: row["id"], bytes: try store.blobs.read(digest: digest), mediaType: row["media_type"]))
                    paths.append(path)
                } catch {
                    summary.failed.append(Failure(path: path, error: "cannot read the image: \(error)"))
                }
            }
            let batchStart = ContinuousClock.now
            let results = captioner.caption(inputs)
            let perImage = (ContinuousClock.now - batchStart) / .seconds(1) / Double(max(1, inputs.count))
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
        }
        summary.seconds = (ContinuousClock.now - start) / .seconds(1)
        return summary
    }
}
