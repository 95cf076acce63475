import Foundation
import LoomLoader
import LoomStore

/// One training run: batches stream from the loader (augmented training selection) into the
/// network; after every epoch the model is evaluated on the eval selection and a checkpoint,
/// the epoch's metrics and (at the end) the per-class accuracy commit to the catalog together.
///
/// Identity: the config plus the exact training samples (``SampleSetIdentity``). `resume`
/// continues the newest unfinished run with that identity from its last checkpoint; `reuse`
/// returns a finished one without training. The loader's order and augmentation are functions
/// of (seed, epoch, sample) and the arithmetic is deterministic for a thread count, so a resumed
/// run ends with the same weights as an uninterrupted one.
public enum TrainRun {
    public struct Options: Sendable {
        /// Loader decode threads (they overlap the training arithmetic).
        public var workers: Int
        /// OpenBLAS threads.
        public var threads: Int
        public var resume: Bool
        public var reuse: Bool
        /// The experiment this run belongs to.
        public var parentRunID: Int64?
        /// Checkpoints kept per run (older rows are dropped; `loom gc` reclaims their bytes).
        public var keepCheckpoints: Int
        /// Return after this many epochs of this call, leaving the run resumable (tests, budgets).
        public var stopAfterEpochs: Int?
        public var blasKernel: String
        /// Where and how the torch trainer runs (used when the config's trainer is `torch`).
        public var torch: TorchOptions

        public init(workers: Int = 1, threads: Int = ProcessInfo.processInfo.activeProcessorCount, resume: Bool = false,
                    reuse: Bool = false, parentRunID: Int64? = nil, keepCheckpoints: Int = 2, stopAfterEpochs: Int? = nil,
                    blasKernel: String = BLAS.coreName, torch: TorchOptions = .init()) {
            self.workers = workers
            self.threads = threads
            self.resume = resume
            self.reuse = reuse
            self.parentRunID = parentRunID
            self.keepCheckpoints = keepCheckpoints
            self.stopAfterEpochs = stopAfterEpochs
            self.blasKernel = blasKernel
            self.torch = torch
        }
    }

    /// Progress inside an epoch: (epoch, batches done, batches in the epoch).
    public typealias StepProgress = (_ epoch: Int, _ done: Int, _ total: Int) -> Void

    public static func run(writer: StoreWriter, config: TrainConfig, options: Options = .init(),
                           onEpoch: (EpochMetrics) -> Void = { _ in }, onStep: StepProgress? = nil) throws -> TrainSummary {
        if config.trainer == .torch {
            return try TorchTrainRun.run(writer: writer, config: config, options: options, onEpoch: onEpoch, onStep: onStep)
        }
        let start = ContinuousClock.now
        try config.validate()
        let store = writer.store
        let plan = try TrainPlan(store: store, config: config)
        if options.reuse, let finished = try TrainRecorder.finishedRun(identity: plan.identity, store: store) { return finished }
        var trainer = try CPUTrainer(plan: plan, options: options)
        let (runID, resumed) = try plan.beginRun(writer: writer, options: options)
        let firstEpoch = resumed ? try trainer.restore(runID: runID, store: store) : 0
        var progress = Progress(firstEpoch: firstEpoch)
        do {
            try trainEpochs(&trainer, runID: runID, writer: writer, progress: &progress, onEpoch: onEpoch, onStep: onStep)
        } catch {
            TrainRecorder.markFailed(runID: runID, error: error, writer: writer)
            throw error
        }
        if progress.last == nil, firstEpoch == config.epochs {
            // Killed after the last epoch's commit but before the run was marked finished.
            progress.last = (try TrainRecorder.storedMetrics(runID: runID, epoch: firstEpoch, store: store), try trainer.evaluate(store: store))
            progress.checkpoint = try TrainRecorder.latestCheckpointDigest(runID: runID, store: store)
        }
        let summary = progress.summary(runID: runID, config: config, parameters: trainer.network.parameterCount,
                                       trainImages: plan.trainTable.count, seconds: (ContinuousClock.now - start) / .seconds(1),
                                       blasKernel: options.blasKernel)
        // Stopped early (stopAfterEpochs), the run stays `running`: resumable.
        if summary.epochs == config.epochs { try TrainRecorder.finish(runID: runID, summary: summary, writer: writer) }
        return summary
    }

    /// Trains, evaluates and commits epoch after epoch until the config's last (or `stopAfterEpochs`).
    private static func trainEpochs(_ trainer: inout CPUTrainer, runID: Int64, writer: StoreWriter, progress: inout Progress,
                                    onEpoch: (EpochMetrics) -> Void, onStep: StepProgress?) throws {
        let config = trainer.plan.config, options = trainer.options
        for epoch in progress.firstEpoch..<config.epochs {
            if let limit = options.stopAfterEpochs, epoch - progress.firstEpoch >= limit { break }
            let epochStart = ContinuousClock.now
            let trained = try trainer.train(epoch: epoch, store: writer.store, onStep: onStep)
            let trainTime = (ContinuousClock.now - epochStart) / .seconds(1)
            let evaluation = try trainer.evaluate(store: writer.store)
            let images = Double(max(trained.images, 1))
            let metrics = EpochMetrics(
                epoch: epoch + 1, loss: trained.lossSum / images, trainTop1: Double(trained.correct) / images,
                evalTop1: evaluation?.top1, evalTop5: evaluation?.top5, imagesPerSecond: Double(trained.images) / trainTime,
                seconds: (ContinuousClock.now - epochStart) / .seconds(1), learningRate: Double(trained.learningRate))
            let checkpoint = trainer.checkpoint(after: epoch + 1)
            progress.checkpoint = try TrainRecorder.commitEpoch(
                writer: writer, runID: runID, metrics: metrics, checkpoint: checkpoint.encoded(),
                mediaType: TrainCheckpoint.mediaType, cursor: checkpoint.cursor, keep: options.keepCheckpoints)
            progress.trainedImages += trained.images
            progress.trainSeconds += trainTime
            progress.last = (metrics, evaluation)
            onEpoch(metrics)
        }
    }

    /// A finished run's stored summary, marked as reused.
    public static func finishedRun(runID: Int64, store: Store) throws -> TrainSummary? {
        try TrainRecorder.finishedRun(runID: runID, store: store)
    }
}

extension TrainRun {
    /// Where a run stands between epochs: what this call trained and the last epoch it finished.
    struct Progress {
        var firstEpoch: Int
        var trainedImages = 0
        var trainSeconds = 0.0
        var last: (metrics: EpochMetrics, evaluation: Evaluation?)?
        var checkpoint: Digest?

        init(firstEpoch: Int) { self.firstEpoch = firstEpoch }

        func summary(runID: Int64, config: TrainConfig, parameters: Int, trainImages: Int, seconds: Double,
                     blasKernel: String) -> TrainSummary {
            TrainSummary(
                runID: runID, reused: false, resumedFromEpoch: firstEpoch, epochs: last?.metrics.epoch ?? firstEpoch,
                model: config.model, parameters: parameters, trainImages: trainImages, evalImages: last?.evaluation?.images ?? 0,
                loss: last?.metrics.loss ?? .nan, trainTop1: last?.metrics.trainTop1 ?? 0, evalTop1: last?.metrics.evalTop1,
                evalTop5: last?.metrics.evalTop5, imagesPerSecond: trainSeconds > 0 ? Double(trainedImages) / trainSeconds : 0,
                seconds: seconds, blasKernel: blasKernel, checkpoint: checkpoint?.hex, perClass: last?.evaluation?.perClass ?? [])
        }
    }
}
