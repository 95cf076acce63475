import Foundation
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
                           batchSize: Int = 16, lease: Duration = .seconds(300), progress: ((_ done: Int, _ total: Int) -> Void)? = nil,
                           workerProgress: (([WorkerReport]) -> Void)? = nil) throws -> Summary {
        let start = ContinuousClock.now
        let captioner = captioners.first
        var summary = Summary(captioner: captioner.name, backend: captioner.backend, captioned: 0, skipped: 0, failed: [], seconds: 0)
        let (captionerID, todo) = try plan(writer: writer, dataset: dataset, split: split, captioner: captioner)
        let pending = todo.filter { !$0.captioned }
        summary.skipped = todo.count - pending.count
        var items = Array(repeating: 0, count: captioners.backends.count)
        var busy = Array(repeating: 0.0, count: captioners.backends.count)
        if writer.isShared {
            try SharedCaptionRun.run(pending, dataset: dataset, split: split, captionerID: captionerID, writer: writer,
                                     lease: lease, batchSize: batchSize) { targets, onCommit in
                let (roundItems, roundBusy) = try caption(targets, writer: writer, captioners: captioners, captionerID: captionerID,
                                                          batchSize: batchSize, summary: &summary, onCommit: onCommit,
                                                          workerProgress: workerProgress)
                for worker in items.indices { items[worker] += roundItems[worker]; busy[worker] += roundBusy[worker] }
            } progress: { done in progress?(done, pending.count) }
        } else {
            var done = 0
            (items, busy) = try caption(pending, writer: writer, captioners: captioners, captionerID: captionerID, batchSize: batchSize,
                                        summary: &summary, onCommit: { _, _ in }, workerProgress: workerProgress) { count in
                done += count
                progress?(done, pending.count)
            }
        }
        summary.workers = WorkerReport.list(devices: captioners.devices, items: items, busy: busy,
                                            restarts: captioners.backends.map(restartCount))
        summary.seconds = (ContinuousClock.now - start) / .seconds(1)
        return summary
    }

    /// Captions `pending` on the workers, committing each batch as it comes back; `onCommit`
    /// runs inside each batch's transaction (a shared run marks its jobs there). Returns each
    /// worker's items and busy seconds.
    static func caption(_ pending: [CaptionTarget], writer: StoreWriter, captioners: WorkerSet<any Captioner>, captionerID: Int64,
                        batchSize: Int, summary: inout Summary,
                        onCommit: @escaping (_ targets: [CaptionTarget], _ tx: any CatalogTransaction) throws -> Void,
                        workerProgress: (([WorkerReport]) -> Void)?, committed: (Int) -> Void = { _ in }) throws -> ([Int], [Double]) {
        let captioner = captioners.first
        let handed = captioners.backends.map { Handed(value: $0) }
        let blobs = writer.store.blobs
        let pool = BatchPool<CaptionTarget, Answer>(items: pending, batchSize: batchSize, workers: handed.count) { worker, rows in
            var answer = Answer()
            for row in rows {
                do {
                    answer.inputs.append(CaptionInput(realImageID: row.realImageID, bytes: try readImage(row.digest, blobs: blobs),
                                                      mediaType: row.mediaType))
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
            guard answer.results.count == answer.inputs.count else {
                throw PipelineError(.internal, "captioner \(captioner.name) returned \(answer.results.count) results for \(answer.inputs.count) images")
            }
            try record(answer, writer: writer, captionerID: captionerID, summary: &summary) { tx in try onCommit(rows, tx) }
            committed(rows.count)
            return []
        }, progress: { items, busy in
            workerProgress?(WorkerReport.list(devices: captioners.devices, items: items, busy: busy,
                                              restarts: Array(repeating: 0, count: items.count)))
        })
        return (items, busy)
    }

    /// An image's bytes, tried again (three times in all, a second apart) when the catalog or
    /// object store was unavailable: on a fleet store a moment's outage would otherwise leave
    /// the image uncaptioned until a later run. A damaged or missing blob fails at once.
    static func readImage(_ digest: Digest, blobs: BlobReader) throws -> [UInt8] {
        var attempt = 1
        while true {
            do {
                return try blobs.read(digest: digest)
            } catch let error as any CodedError where error.errorCode == .unavailable && attempt < 3 {
                attempt += 1
                Thread.sleep(forTimeInterval: 1)
            }
        }
    }

    /// The captioner's row (recorded if new) and every image of the dataset (or split), each
    /// saying whether this captioner has captioned it.
    static func plan(writer: StoreWriter, dataset: String, split: String?, captioner: any Captioner) throws -> (Int64, [CaptionTarget]) {
        let params = captioner.params.merging(["version": captioner.version]) { current, _ in current }
        return try writer.transaction { tx in
            let datasetID = try tx.datasets.pipelineDatasetID(dataset)
            let splitID = try tx.datasets.pipelineSplitID(split, of: datasetID, dataset: dataset)
            let id = try tx.captions.ensureCaptioner(name: captioner.name, params: try CanonicalJSON.text(params), backend: captioner.backend)
            return (id, try tx.captions.captionTargets(of: datasetID, splitID: splitID, captionerID: id))
        }
    }

    /// Commits one batch's captions together; an empty caption or a failure is reported, not stored.
    static func record(_ answer: Answer, writer: StoreWriter, captionerID: Int64, summary: inout Summary,
                       also: (any CatalogTransaction) throws -> Void = { _ in }) throws {
        summary.failed += answer.unreadable
        // Only images without a caption from this captioner were sent: by the plan, and on a
        // fleet store by the claims, so each caption is new.
        try writer.transaction { tx in
            try also(tx)
            for (index, result) in answer.results.enumerated() {
                switch result {
                case .success(let text):
                    let tidy = text.trimmingCharacters(in: .whitespacesAndNewlines)
                    guard !tidy.isEmpty else {
                        summary.failed.append(Failure(path: answer.paths[index], error: "empty caption"))
                        continue
                    }
                    try tx.captions.putCaption(realImageID: answer.inputs[index].realImageID, captionerID: captionerID, text: tidy,
                                               seconds: answer.perImage)
                    summary.captioned += 1
                case .failure(let error):
                    summary.failed.append(Failure(path: answer.paths[index], error: "\(error)"))
                }
            }
        }
    }
}
