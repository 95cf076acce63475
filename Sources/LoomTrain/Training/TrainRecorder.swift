import Foundation
import LoomLoader
import LoomStore

/// The catalog side of a training run, one path for both trainers (the Swift CPU trainer in
/// ``TrainRun`` and the PyTorch worker in ``TorchTrainRun``): the run row and its samples, an
/// epoch's checkpoint blob committed with its `train_epochs` row, the finished summary and the
/// per-class accuracy. What a checkpoint blob holds is the trainer's business; the recorder
/// stores bytes under a media type. Every write is a transaction of the run's ``StoreWriter``.
enum TrainRecorder {
    /// The run to train into: the newest unfinished one with this identity when resuming (set
    /// back to running, adopted by `parentRunID`), else a new row with the training samples.
    static func beginRun(writer: StoreWriter, identity: String, table: SampleTable, config: TrainConfig, resume: Bool,
                         parentRunID: Int64?) throws -> (runID: Int64, resumed: Bool) {
        let dataset = try Selection(parsing: config.train).components[0].dataset
        return try writer.transaction { tx in
            if resume, let unfinished = try unfinishedRun(identity: identity, in: tx.snapshot) {
                try tx.runs.resume(id: unfinished, parentID: parentRunID)
                return (unfinished, true)
            }
            let runID = try tx.runs.begin(stage: .train, datasetID: try tx.snapshot.datasets.dataset(named: dataset)?.id,
                                          parentID: parentRunID, config: identity)
            try tx.training.recordSamples((0..<table.count).map { (table.blobIDs[$0], Int(table.labels[$0])) }, of: runID)
            return (runID, false)
        }
    }

    /// Every component's dataset must share one label space, or labels would mean different classes.
    static func checkLabelSpace(store: Store, config: TrainConfig) throws {
        let names = ([config.train] + (config.eval.map { [$0] } ?? []))
        let datasets = try names.flatMap { try Selection(parsing: $0).components.map(\.dataset) }
        try store.read { catalog in
            var reference: (String, [String])?
            for dataset in Set(datasets).sorted() {
                let classes = try catalog.datasets.dataset(named: dataset).map { try catalog.datasets.classes(of: $0.id).map(\.wnid) } ?? []
                if let (name, expected) = reference, expected != classes {
                    throw TrainError(.invalidInput, "datasets \(name) and \(dataset) have different classes; a run needs one label space")
                }
                reference = reference ?? (dataset, classes)
            }
        }
    }

    /// Stores the epoch's checkpoint as a blob and, in one transaction, its `checkpoints` row, the
    /// epoch's `train_epochs` row, and the pruning of checkpoints past `keep`.
    static func commitEpoch(writer: StoreWriter, runID: Int64, metrics: EpochMetrics, checkpoint bytes: [UInt8],
                            mediaType: String, cursor: String, keep: Int) throws -> Digest {
        let digest = Digest.sha256(bytes)
        try bytes.withUnsafeBytes { _ = try writer.stage($0, digest: digest, mediaType: mediaType, policy: .auto) }
        try writer.transaction { tx in
            guard let blobID = try tx.newBlobIDs[digest] ?? tx.snapshot.blobs.blob(digest)?.id else {
                throw TrainError(.internal, "checkpoint \(digest.hex) of run \(runID) has no blob row after its commit")
            }
            try tx.training.recordEpoch(EpochRecord(metrics), of: runID)
            try tx.training.recordCheckpoint(of: runID, epoch: metrics.epoch, blobID: blobID, cursor: cursor)
            try tx.training.pruneCheckpoints(of: runID, keep: keep)
        }
        return digest
    }

    /// The newest checkpoint blob of a run: its epoch, digest and bytes (read and checked from the store).
    static func latestCheckpoint(runID: Int64, store: Store) throws -> (epoch: Int, digest: Digest, bytes: [UInt8])? {
        let found = try store.read { catalog -> (epoch: Int, location: BlobLocation)? in
            guard let checkpoint = try catalog.training.checkpoints(of: runID).last,
                  let blob = try catalog.blobs.blob(checkpoint.digest) else { return nil }
            return (checkpoint.epoch, blob.location)
        }
        guard let found else { return nil }
        return (found.epoch, found.location.digest, try store.blobs.read(found.location))
    }

    /// The newest checkpoint's digest, without reading the blob.
    static func latestCheckpointDigest(runID: Int64, store: Store) throws -> Digest? {
        try store.read { try $0.training.checkpoints(of: runID).last?.digest }
    }

    /// Marks the run failed with `error` as its summary; a failure to record that is dropped, so
    /// the caller rethrows the error that stopped the run.
    static func markFailed(runID: Int64, error: any Error, writer: StoreWriter) {
        try? writer.transaction { try $0.runs.fail(id: runID, message: "\(error)") }
    }

    static func finish(runID: Int64, summary: TrainSummary, writer: StoreWriter) throws {
        let json = try CanonicalJSON.text(summary)
        try writer.transaction { tx in
            try tx.training.recordEvalClasses(summary.perClass.map { EvalClassRecord(label: $0.label, correct: $0.correct, total: $0.total) },
                                              of: runID)
            try tx.runs.finish(id: runID, summary: json)
        }
    }

    static func storedMetrics(runID: Int64, epoch: Int, store: Store) throws -> EpochMetrics {
        guard let stored = try store.read({ try $0.training.epochs(of: runID) }).first(where: { $0.epoch == epoch }) else {
            throw TrainError(.corrupt, "run \(runID) has a checkpoint for epoch \(epoch) but no metrics")
        }
        return EpochMetrics(epoch: epoch, loss: stored.loss, trainTop1: stored.trainTop1, evalTop1: stored.evalTop1,
                            evalTop5: stored.evalTop5, imagesPerSecond: stored.imagesPerSecond, seconds: stored.seconds,
                            learningRate: 0)
    }

    /// The newest `running` or `failed` training run with this identity.
    static func unfinishedRun(identity: String, in catalog: any CatalogSnapshot) throws -> Int64? {
        try [RunStatus.running, .failed].compactMap {
            try catalog.runs.runs(RunFilter(stage: .train, status: $0, config: identity), offset: 0, limit: 1).first?.id
        }.max()
    }

    static func finishedRun(identity: String, store: Store) throws -> TrainSummary? {
        let run = try store.read {
            try $0.runs.runs(RunFilter(stage: .train, status: .finished, config: identity), offset: 0, limit: 1).first
        }
        return try run.flatMap(reused)
    }

    /// A finished run's stored summary, marked as reused.
    static func finishedRun(runID: Int64, store: Store) throws -> TrainSummary? {
        try store.read { try $0.runs.run(id: runID) }.flatMap(reused)
    }

    private static func reused(_ run: RunRecord) throws -> TrainSummary? {
        guard run.status == .finished, let text = run.summary else { return nil }
        var summary = try JSONDecoder().decode(TrainSummary.self, from: Data(text.utf8))
        summary.reused = true
        return summary
    }
}

extension EpochRecord {
    init(_ metrics: EpochMetrics) {
        self.init(epoch: metrics.epoch, loss: metrics.loss, trainTop1: metrics.trainTop1, evalTop1: metrics.evalTop1,
                  evalTop5: metrics.evalTop5, imagesPerSecond: metrics.imagesPerSecond, seconds: metrics.seconds)
    }
}
