import Foundation
import GRDB
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

        public init(workers: Int = 1, threads: Int = ProcessInfo.processInfo.activeProcessorCount, resume: Bool = false,
                    reuse: Bool = false, parentRunID: Int64? = nil, keepCheckpoints: Int = 2, stopAfterEpochs: Int? = nil,
                    blasKernel: String = BLAS.coreName) {
            self.workers = workers
            self.threads = threads
            self.resume = resume
            self.reuse = reuse
            self.parentRunID = parentRunID
            self.keepCheckpoints = keepCheckpoints
            self.stopAfterEpochs = stopAfterEpochs
            self.blasKernel = blasKernel
        }
    }

    /// Progress inside an epoch: (epoch, batches done, batches in the epoch).
    public typealias StepProgress = (_ epoch: Int, _ done: Int, _ total: Int) -> Void

    public static func run(writer: StoreWriter, config: TrainConfig, options: Options = .init(),
                           onEpoch: (EpochMetrics) -> Void = { _ in }, onStep: StepProgress? = nil) throws -> TrainSummary {
        let start = ContinuousClock.now
        try config.validate()
        let store = writer.store
        let spec = TransformSpec(size: config.size, augment: .train, scale: config.cropScale...1.0)
        let trainTable = try SampleTable.load(store, selection: Selection(parsing: config.train), cacheShortSide: spec.evalResize)
        let evalTable = try config.eval.map { try SampleTable.load(store, selection: Selection(parsing: $0), cacheShortSide: spec.evalResize) }
        try checkLabelSpace(store: store, config: config)
        guard trainTable.count >= config.batch else {
            throw TrainError("training selection \(config.train) has \(trainTable.count) images, fewer than one batch of \(config.batch)")
        }
        let identity = try config.identity(samples: SampleSetIdentity(trainTable))
        let classes = trainTable.classNames.count
        let modelSpec = ModelSpec(name: config.model, classes: classes, inputSize: config.size)

        if options.reuse, let finished = try finishedRun(identity: identity, store: store) { return finished }

        let network = try Network(modelSpec, seed: UInt64(bitPattern: config.seed))
        let optimizer = SGD(parameters: network.parameters, momentum: Float(config.momentum),
                            weightDecay: Float(config.weightDecay), nesterov: config.nesterov)
        BLAS.setThreads(options.threads)

        // The run row: an unfinished one to continue, or a new one with its samples.
        var runID: Int64
        var firstEpoch = 0
        var step = 0
        if options.resume, let unfinished = try unfinishedRun(identity: identity, store: store) {
            runID = unfinished
            if let checkpoint = try TrainCheckpoint.latest(runID: runID, store: store) {
                guard checkpoint.identity == identity else {
                    throw TrainError("run \(runID)'s checkpoint was made with another config; start a new run without --resume")
                }
                try network.load(checkpoint.model)
                try optimizer.load(checkpoint.optimizer)
                firstEpoch = checkpoint.epoch
                step = checkpoint.step
            }
            try store.catalog.write { db in
                try db.execute(sql: "UPDATE runs SET status = 'running', parent_id = coalesce(?, parent_id) WHERE id = ?",
                               arguments: [options.parentRunID, runID])
            }
        } else {
            runID = try insertRun(writer: writer, identity: identity, table: trainTable, config: config,
                                  parentRunID: options.parentRunID)
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
                lastCheckpoint = try commitEpoch(writer: writer, runID: runID, metrics: metrics, checkpoint: checkpoint,
                                                 keep: options.keepCheckpoints)
                last = (metrics, evaluation)
                onEpoch(metrics)
            }
        } catch {
            try? store.catalog.write { db in
                try db.execute(sql: "UPDATE runs SET status = 'failed', summary = json_object('error', ?) WHERE id = ?",
                               arguments: ["\(error)", runID])
            }
            throw error
        }

        if last == nil, firstEpoch == config.epochs {
            // Killed after the last epoch's commit but before the run was marked finished.
            let evaluation = try evalTable.map {
                try Evaluation.run(network, store: store, table: $0, size: config.size, batch: config.batch, workers: options.workers)
            }
            last = (try storedMetrics(runID: runID, epoch: firstEpoch, store: store), evaluation)
            lastCheckpoint = try store.catalog.read { db in
                try Digest.fetchOne(db, sql: """
                    SELECT b.digest FROM checkpoints k JOIN blobs b ON b.id = k.blob_id WHERE k.run_id = ? ORDER BY k.epoch DESC LIMIT 1
                    """, arguments: [runID])
            }
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
        if finalEpoch == config.epochs { try finish(runID: runID, summary: summary, store: store) }
        return summary
    }

    // MARK: - Catalog records

    /// Every component's dataset must share one label space, or labels would mean different classes.
    static func checkLabelSpace(store: Store, config: TrainConfig) throws {
        let names = ([config.train] + (config.eval.map { [$0] } ?? []))
        let datasets = try names.flatMap { try Selection(parsing: $0).components.map(\.dataset) }
        try store.catalog.read { db in
            var reference: (String, [String])?
            for dataset in Set(datasets).sorted() {
                let classes = try String.fetchAll(db, sql: """
                    SELECT c.wnid FROM classes c JOIN datasets d ON d.id = c.dataset_id WHERE d.name = ? ORDER BY c.label
                    """, arguments: [dataset])
                if let (name, expected) = reference, expected != classes {
                    throw TrainError("datasets \(name) and \(dataset) have different classes; a run needs one label space")
                }
                reference = reference ?? (dataset, classes)
            }
        }
    }

    static func insertRun(writer: StoreWriter, identity: String, table: SampleTable, config: TrainConfig,
                          parentRunID: Int64?) throws -> Int64 {
        let dataset = try Selection(parsing: config.train).components[0].dataset
        return try writer.store.catalog.write { db in
            try db.execute(sql: """
                INSERT INTO runs (stage, dataset_id, config, status, parent_id)
                VALUES ('train', (SELECT id FROM datasets WHERE name = ?), ?, 'running', ?)
                """, arguments: [dataset, identity, parentRunID])
            let runID = db.lastInsertedRowID
            let insert = try db.cachedStatement(sql: "INSERT OR IGNORE INTO run_samples (run_id, blob_id, label) VALUES (?, ?, ?)")
            for index in 0..<table.count {
                try insert.execute(arguments: [runID, table.blobIDs[index], Int(table.labels[index])])
            }
            return runID
        }
    }

    static func commitEpoch(writer: StoreWriter, runID: Int64, metrics: EpochMetrics, checkpoint: TrainCheckpoint,
                            keep: Int) throws -> Digest {
        let bytes = checkpoint.encoded()
        let digest = Digest.sha256(bytes)
        try bytes.withUnsafeBytes { _ = try writer.stage($0, digest: digest, mediaType: TrainCheckpoint.mediaType, policy: .auto) }
        try writer.commit { db, ids in
            let blobID = try ids[digest] ?? Int64.fetchOne(db, sql: "SELECT id FROM blobs WHERE digest = ?", arguments: [digest])
            try db.execute(sql: """
                INSERT OR REPLACE INTO train_epochs (run_id, epoch, loss, train_top1, eval_top1, eval_top5, images_per_s, seconds)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?)
                """, arguments: [runID, metrics.epoch, metrics.loss, metrics.trainTop1, metrics.evalTop1, metrics.evalTop5,
                                 metrics.imagesPerSecond, metrics.seconds])
            try db.execute(sql: """
                INSERT OR REPLACE INTO checkpoints (run_id, epoch, blob_id, cursor) VALUES (?, ?, ?, ?)
                """, arguments: [runID, checkpoint.epoch, blobID, checkpoint.cursor])
            try db.execute(sql: """
                DELETE FROM checkpoints WHERE run_id = ? AND epoch NOT IN
                    (SELECT epoch FROM checkpoints WHERE run_id = ? ORDER BY epoch DESC LIMIT ?)
                """, arguments: [runID, runID, max(1, keep)])
        }
        return digest
    }

    static func finish(runID: Int64, summary: TrainSummary, store: Store) throws {
        let json = try CanonicalJSON.text(summary)
        try store.catalog.write { db in
            try db.execute(sql: "DELETE FROM eval_classes WHERE run_id = ?", arguments: [runID])
            for entry in summary.perClass {
                try db.execute(sql: "INSERT INTO eval_classes (run_id, label, correct, total) VALUES (?, ?, ?, ?)",
                               arguments: [runID, entry.label, entry.correct, entry.total])
            }
            try db.execute(sql: """
                UPDATE runs SET status = 'finished', summary = ?, finished_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now') WHERE id = ?
                """, arguments: [json, runID])
        }
    }

    static func storedMetrics(runID: Int64, epoch: Int, store: Store) throws -> EpochMetrics {
        let row = try store.catalog.read { db in
            try Row.fetchOne(db, sql: "SELECT * FROM train_epochs WHERE run_id = ? AND epoch = ?", arguments: [runID, epoch])
        }
        guard let row else { throw TrainError("run \(runID) has a checkpoint for epoch \(epoch) but no metrics") }
        return EpochMetrics(epoch: epoch, loss: row["loss"], trainTop1: row["train_top1"], evalTop1: row["eval_top1"],
                            evalTop5: row["eval_top5"], imagesPerSecond: row["images_per_s"], seconds: row["seconds"],
                            learningRate: 0)
    }

    static func unfinishedRun(identity: String, store: Store) throws -> Int64? {
        try store.catalog.read { db in
            try Int64.fetchOne(db, sql: """
                SELECT id FROM runs WHERE stage = 'train' AND config = ? AND status IN ('running', 'failed') ORDER BY id DESC LIMIT 1
                """, arguments: [identity])
        }
    }

    static func finishedRun(identity: String, store: Store) throws -> TrainSummary? {
        let runID = try store.catalog.read { db in
            try Int64.fetchOne(db, sql: """
                SELECT id FROM runs WHERE stage = 'train' AND config = ? AND status = 'finished' ORDER BY id DESC LIMIT 1
                """, arguments: [identity])
        }
        return try runID.flatMap { try finishedRun(runID: $0, store: store) }
    }

    /// A finished run's stored summary, marked as reused.
    public static func finishedRun(runID: Int64, store: Store) throws -> TrainSummary? {
        let text = try store.catalog.read { db in
            try String.fetchOne(db, sql: "SELECT summary FROM runs WHERE id = ? AND status = 'finished'", arguments: [runID])
        }
        guard let text else { return nil }
        var summary = try JSONDecoder().decode(TrainSummary.self, from: Data(text.utf8))
        summary.reused = true
        return summary
    }

}
