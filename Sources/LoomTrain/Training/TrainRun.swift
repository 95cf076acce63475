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
        let spec = TransformSpec(size: config.size, augment: .train, scale: config.cropScale...1.0)
        let trainTable = try SampleTable.load(store, selection: Selection(parsing: config.train), cacheShortSide: spec.evalResize)
        let evalTable = try config.eval.map { try SampleTable.load(store, selection: Selection(parsing: $0), cacheShortSide: spec.evalResize) }
        try TrainRecorder.checkLabelSpace(store: store, config: config)
        guard trainTable.count >= config.batch else {
            throw TrainError("training selection \(config.train) has \(trainTable.count) images, fewer than one batch of \(config.batch)")
        }
        let identity = try config.identity(samples: SampleSetIdentity(trainTable))
        let classes = trainTable.classNames.count
        let modelSpec = ModelSpec(name: config.model, classes: classes, inputSize: config.size)

        if options.reuse, let finished = try TrainRecorder.finishedRun(identity: identity, store: store) { return finished }

        let network = try Network(modelSpec, seed: UInt64(bitPattern: config.seed))
        let optimizer = SGD(parameters: network.parameters, momentum: Float(config.momentum),
                            weightDecay: Float(config.weightDecay), nesterov: config.nesterov)
        BLAS.setThreads(options.threads)

        // The run row: an unfinished one to continue, or a new one with its samples.
        let (runID, resumed) = try TrainRecorder.beginRun(writer: writer, identity: identity, table: trainTable, config: config,
                                                          resume: options.resume, parentRunID: options.parentRunID)
        var firstEpoch = 0
        var step = 0
        if resumed, let checkpoint = try TrainCheckpoint.latest(runID: runID, store: store) {
            guard checkpoint.identity == identity else {
                throw TrainError("run \(runID)'s checkpoint was made with another config; start a new run without --resume")
            }
            try network.load(checkpoint.model)
            try optimizer.load(checkpoint.optimizer)
            firstEpoch = checkpoint.epoch
            step = checkpoint.step
        }

        let stepsPerEpoch = trainTable.count / config.batch  // the last partial batch is dropped
        let schedule = LearningRateSchedule(
            baseRate: Float(config.learningRate), warmupSteps: Int((config.warmupEpochs * Double(stepsPerEpoch)).rounded()),
            totalSteps: stepsPerEpoch * config.epochs)
        let sampler = SamplerConfig(seed: UInt64(bitPattern: config.seed))
        let inputCount = config.batch * 3 * config.size * config.size
        var input = [Float](repeating: 0, count: inputCount)
        var trainedImages = 0
        var trainSeconds = 0.0
        var last: (metrics: EpochMetrics, evaluation: Evaluation?)?
        var lastCheckpoint: Digest?

        do {
            for epoch in firstEpoch..<config.epochs {
                if let limit = options.stopAfterEpochs, epoch - firstEpoch >= limit { break }
                let epochStart = ContinuousClock.now
                let loader = try Loader(store: store, table: trainTable, spec: spec, config: sampler, epoch: epoch,
                                        options: .init(batchSize: config.batch, workers: options.workers, dropLast: true))
                var lossSum = 0.0, correct = 0, images = 0
                var learningRate: Float = 0
                while let view = try loader.next() {
                    learningRate = schedule.rate(atStep: step)
                    input.withUnsafeMutableBufferPointer { view.normalizedCHW(size: config.size, into: $0) }
                    let logits = input.withUnsafeBufferPointer {
                        network.forward(UnsafeBufferPointer(rebasing: $0[..<(view.count * 3 * config.size * config.size)]),
                                        batch: view.count, training: true)
                    }
                    let result = Loss.softmaxCrossEntropy(logits: logits, labels: Array(view.labels), classes: classes,
                                                          smoothing: Float(config.labelSmoothing))
                    guard result.loss.isFinite else {
                        throw TrainError("the loss diverged (\(result.loss)) at epoch \(epoch + 1), step \(step); lower --lr")
                    }
                    network.backward(result.grad)
                    optimizer.step(learningRate: learningRate)
                    lossSum += result.loss * Double(view.count)
                    correct += result.correct
                    images += view.count
                    step += 1
                    onStep?(epoch + 1, view.index + 1, loader.batchCount)
                }
                let trainTime = (ContinuousClock.now - epochStart) / .seconds(1)
                trainedImages += images
                trainSeconds += trainTime
                let evaluation = try evalTable.map {
                    try Evaluation.run(network, store: store, table: $0, size: config.size, batch: config.batch, workers: options.workers)
                }
                let metrics = EpochMetrics(
                    epoch: epoch + 1, loss: lossSum / Double(max(images, 1)), trainTop1: Double(correct) / Double(max(images, 1)),
                    evalTop1: evaluation?.top1, evalTop5: evaluation?.top5, imagesPerSecond: Double(images) / trainTime,
                    seconds: (ContinuousClock.now - epochStart) / .seconds(1), learningRate: Double(learningRate))
                let cursor = ResumeToken(seed: sampler.seed, epoch: epoch + 1, position: 0, rank: 0, world: 1).description
                let checkpoint = TrainCheckpoint(epoch: epoch + 1, step: step, cursor: cursor, identity: identity,
                                                 model: network.stateTensors(), optimizer: optimizer.stateTensors())
                lastCheckpoint = try TrainRecorder.commitEpoch(
                    writer: writer, runID: runID, metrics: metrics, checkpoint: checkpoint.encoded(),
                    mediaType: TrainCheckpoint.mediaType, cursor: cursor, keep: options.keepCheckpoints)
                last = (metrics, evaluation)
                onEpoch(metrics)
            }
        } catch {
            TrainRecorder.markFailed(runID: runID, error: error, store: store)
            throw error
        }

        if last == nil, firstEpoch == config.epochs {
            // Killed after the last epoch's commit but before the run was marked finished.
            let evaluation = try evalTable.map {
                try Evaluation.run(network, store: store, table: $0, size: config.size, batch: config.batch, workers: options.workers)
            }
            last = (try TrainRecorder.storedMetrics(runID: runID, epoch: firstEpoch, store: store), evaluation)
            lastCheckpoint = try TrainRecorder.latestCheckpointDigest(runID: runID, store: store)
        }
        let finalEpoch = last?.metrics.epoch ?? firstEpoch
        let summary = TrainSummary(
            runID: runID, reused: false, resumedFromEpoch: firstEpoch, epochs: finalEpoch, model: config.model,
            parameters: network.parameterCount, trainImages: trainTable.count, evalImages: last?.evaluation?.images ?? 0,
            loss: last?.metrics.loss ?? .nan, trainTop1: last?.metrics.trainTop1 ?? 0, evalTop1: last?.metrics.evalTop1,
            evalTop5: last?.metrics.evalTop5, imagesPerSecond: trainSeconds > 0 ? Double(trainedImages) / trainSeconds : 0,
            seconds: (ContinuousClock.now - start) / .seconds(1), blasKernel: options.blasKernel,
            checkpoint: lastCheckpoint?.hex, perClass: last?.evaluation?.perClass ?? [])
        // Stopped early (stopAfterEpochs), the run stays `running`: resumable.
        if finalEpoch == config.epochs { try TrainRecorder.finish(runID: runID, summary: summary, store: store) }
        return summary
    }

    /// A finished run's stored summary, marked as reused.
    public static func finishedRun(runID: Int64, store: Store) throws -> TrainSummary? {
        try TrainRecorder.finishedRun(runID: runID, store: store)
    }
}
