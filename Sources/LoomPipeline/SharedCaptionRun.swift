import Foundation
import LoomStore

/// `loom caption` on a fleet store, where several processes caption one dataset at once: they
/// share one `caption` run (same dataset, split and captioner, still `running`) whose jobs are
/// the images to caption (key: the real image's id), and claim them a round at a time under a
/// renewed lease, as `loom generate` does. Each caption commits with its job's `done`, so the
/// work is divided and the end state is one caption per image per captioner.
enum SharedCaptionRun {
    typealias Round = (_ targets: [CaptionTarget],
                       _ onCommit: @escaping ([CaptionTarget], any CatalogTransaction) throws -> Void) throws -> Void

    static func run(_ pending: [CaptionTarget], dataset: String, split: String?, captionerID: Int64, writer: StoreWriter,
                    lease: Duration, batchSize: Int, round: Round, progress: (Int) -> Void) throws {
        let config = try CanonicalJSON.text(["captioner_id": "\(captionerID)", "split": split ?? "*"])
        let runID = try writer.transaction { tx in
            let datasetID = try tx.datasets.pipelineDatasetID(dataset)
            try tx.runs.serializePlanning(datasetID: datasetID)
            let filter = RunFilter(stage: .caption, status: .running, datasetID: datasetID, config: config)
            let id: Int64
            if let run = try tx.runs.runs(filter, offset: 0, limit: 1).first {
                try tx.runs.resume(id: run.id, parentID: nil)
                id = run.id
            } else {
                id = try tx.runs.begin(stage: .caption, datasetID: datasetID, parentID: nil, config: config)
            }
            try tx.jobs.plan(pending.map(key), for: id)
            return id
        }
        let renewer = writer.renewingLeases(runID: runID, lease: lease)
        defer { renewer?.stop() }
        var byKey = Dictionary(pending.map { (key($0), $0) }, uniquingKeysWith: { first, _ in first })
        var done = 0
        while true {
            let claimed = try JobClaims.nextRound(of: runID, writer: writer, limit: max(1, batchSize * 4), lease: lease)
            if claimed.isEmpty { break }
            if claimed.contains(where: { byKey[$0.key] == nil }) {
                // Planned by a process that started later, for images ingested since this one planned.
                for target in try targets(writer: writer, dataset: dataset, split: split, captionerID: captionerID) {
                    byKey[key(target)] = target
                }
            }
            let targets = claimed.compactMap { byKey[$0.key] }
            let gone = claimed.filter { byKey[$0.key] == nil }
            if !gone.isEmpty {
                try writer.transaction { tx in
                    for job in gone { try tx.jobs.markFailed(job.key, of: runID, error: "the image is no longer in the dataset") }
                }
            }
            if targets.isEmpty { continue }
            // Every job of the round ends done in its batch's commit: captioned, or its failure
            // in the summary (an image still without a caption is planned again by a later run).
            try round(targets) { batch, tx in
                for target in batch { try tx.jobs.markDone(key(target), of: runID) }
            }
            done += targets.count
            progress(done)
        }
        try JobClaims.close(runID, summary: try CanonicalJSON.text(["captioned_here": "\(done)"]), failed: false, writer: writer)
    }

    static func key(_ target: CaptionTarget) -> String { "\(target.realImageID)" }

    static func targets(writer: StoreWriter, dataset: String, split: String?, captionerID: Int64) throws -> [CaptionTarget] {
        try writer.store.read { snapshot in
            let datasetID = try snapshot.datasets.pipelineDatasetID(dataset)
            let splitID = try snapshot.datasets.pipelineSplitID(split, of: datasetID, dataset: dataset)
            return try snapshot.captions.captionTargets(of: datasetID, splitID: splitID, captionerID: captionerID)
        }
    }
}
