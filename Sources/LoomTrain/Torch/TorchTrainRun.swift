import Foundation
import Glibc
import LoomLoader
import LoomStore

/// `loom train --trainer torch`: the same run as ``TrainRun`` (identity, run row, samples,
/// epoch rows, checkpoints, resume, summary, through ``TrainRecorder``), with the arithmetic in
/// PyTorch workers (tools/workers/torch_trainer.py), one per rank.
///
/// Loom keeps the data: every epoch each rank's batches come from its own rank of the loader
/// (`rank/world`, padded so every rank takes the same number of steps) through a shared-memory
/// ring, and rank 0 evaluates on the eval selection through another. After every epoch rank 0
/// writes the checkpoint (a tar: `model.safetensors`, `optimizer.pt`, `loom.json`), which is
/// committed as a blob with the epoch's row.
enum TorchTrainRun {
    static let checkpointMediaType = "application/x-loom-torch-checkpoint+tar"

    static func run(writer: StoreWriter, config: TrainConfig, options: TrainRun.Options,
                    onEpoch: (EpochMetrics) -> Void, onStep: TrainRun.StepProgress?) throws -> TrainSummary {
        let start = ContinuousClock.now
        try config.validate()
        let torch = options.torch
        try torch.validate(batch: config.batch)
        let store = writer.store
        let plan = try TrainPlan(store: store, config: config)
        if options.reuse, let finished = try TrainRecorder.finishedRun(identity: plan.identity, store: store) { return finished }
        let launch = try torch.launch()
        let layout = try RankLayout(plan: plan, world: torch.gpus)

        let (runID, resumed) = try plan.beginRun(writer: writer, options: options)
        let work = FileManager.default.temporaryDirectory.appendingPathComponent("loom-torch-\(getpid())-\(UUID().uuidString.prefix(8))").path
        defer { try? FileManager.default.removeItem(atPath: work) }
        do {
            try FileManager.default.createDirectory(atPath: work, withIntermediateDirectories: true)
            let ranks = try TorchRanks(python: launch.python, script: launch.script, world: layout.world, device: torch.device,
                                       threads: max(1, options.threads / layout.world), rendezvous: work + "/rendezvous",
                                       environment: torch.environment)
            var succeeded = false
            defer { if succeeded { ranks.close() } else { ranks.stop() } }
            let session = Session(store: store, ranks: ranks, workers: options.workers,
                                  prefix: "loom-torch-\(getpid())-\(runID)-\(UUID().uuidString.prefix(6))")
            let ready = try setUp(ranks, plan: plan, layout: layout, runID: runID, resumed: resumed, work: work, store: store)
            var progress = TrainRun.Progress(firstEpoch: ready.firstEpoch)
            try trainEpochs(session, plan: plan, layout: layout, options: options, runID: runID, writer: writer, work: work,
                            step: ready.step, progress: &progress, onEpoch: onEpoch, onStep: onStep)
            if progress.last == nil, progress.firstEpoch == config.epochs {
                // Killed after the last epoch's commit but before the run was marked finished.
                let evaluation = try plan.evalTable.map { try session.evaluate($0, size: config.size, batch: config.batch) }
                progress.last = (try TrainRecorder.storedMetrics(runID: runID, epoch: progress.firstEpoch, store: store), evaluation)
                progress.checkpoint = try TrainRecorder.latestCheckpointDigest(runID: runID, store: store)
            }
            var summary = progress.summary(runID: runID, config: config, parameters: ready.parameters,
                                           trainImages: plan.trainTable.count, seconds: (ContinuousClock.now - start) / .seconds(1),
                                           blasKernel: "torch \(ranks.handshake.precision)")
            summary.device = ranks.handshake.device
            summary.torchVersion = ranks.handshake.torchVersion
            summary.world = layout.world
            // Stopped early (stopAfterEpochs), the run stays `running`: resumable.
            if summary.epochs == config.epochs { try TrainRecorder.finish(runID: runID, summary: summary, writer: writer) }
            succeeded = true
            return summary
        } catch {
            TrainRecorder.markFailed(runID: runID, error: error, writer: writer)
            throw error
        }
    }

    /// How the global batch splits over the ranks.
    struct RankLayout {
        let world: Int
        let perRank: Int
        let sampler: SamplerConfig
        let stepsPerEpoch: Int

        init(plan: TrainPlan, world: Int) throws {
            let config = plan.config
            self.world = world
            perRank = config.batch / world
            sampler = SamplerConfig(seed: UInt64(bitPattern: config.seed), world: world, remainder: .pad)
            stepsPerEpoch = EpochPlan(table: plan.trainTable, config: sampler, epoch: 0).order.count / perRank
            guard stepsPerEpoch >= 1 else {
                throw TrainError(.invalidInput, "training selection \(config.train) gives each of \(world) ranks fewer than one batch of \(perRank)")
            }
        }
    }

    /// Sends every rank the model and recipe (and the run's newest checkpoint when resuming):
    /// the model's parameter count, and the epoch and step the run continues from.
    static func setUp(_ ranks: TorchRanks, plan: TrainPlan, layout: RankLayout, runID: Int64, resumed: Bool, work: String,
                      store: Store) throws -> (parameters: Int, firstEpoch: Int, step: Int) {
        let config = plan.config
        var setup: [String: Any] = [
            "model": config.model, "classes": plan.trainTable.classNames.count, "size": config.size, "seed": config.seed,
            "learning_rate": config.learningRate, "momentum": config.momentum, "weight_decay": config.weightDecay,
            "nesterov": config.nesterov, "label_smoothing": config.labelSmoothing,
            "warmup_steps": Int((config.warmupEpochs * Double(layout.stepsPerEpoch)).rounded()),
            "total_steps": layout.stepsPerEpoch * config.epochs,
        ]
        if resumed, let checkpoint = try TrainRecorder.latestCheckpoint(runID: runID, store: store) {
            let path = work + "/resume.tar"
            guard FileManager.default.createFile(atPath: path, contents: Data(checkpoint.bytes)) else {
                throw TrainError(.internal, "cannot write \(path)")
            }
            setup["checkpoint"] = path
        }
        let ready = try ranks.request("setup", Dictionary(uniqueKeysWithValues: (0..<layout.world).map { ($0, setup) }))[0]!
        let parameters = try Self.int(ready, "parameters")
        guard setup["checkpoint"] != nil else { return (parameters, 0, 0) }
        guard ready["identity"] as? String == plan.identity else {
            throw TrainError(.conflict, "run \(runID)'s checkpoint was made with another config; start a new run without --resume")
        }
        return (parameters, try Self.int(ready, "epoch"), try Self.int(ready, "step"))
    }

    /// Trains, evaluates and commits epoch after epoch until the config's last (or `stopAfterEpochs`).
    static func trainEpochs(_ session: Session, plan: TrainPlan, layout: RankLayout, options: TrainRun.Options, runID: Int64,
                            writer: StoreWriter, work: String, step firstStep: Int, progress: inout TrainRun.Progress,
                            onEpoch: (EpochMetrics) -> Void, onStep: TrainRun.StepProgress?) throws {
        let config = plan.config
        var step = firstStep
        for epoch in progress.firstEpoch..<config.epochs {
            if let limit = options.stopAfterEpochs, epoch - progress.firstEpoch >= limit { break }
            let epochStart = ContinuousClock.now
            let plans = (0..<layout.world).map { rank in
                var rankSampler = layout.sampler
                rankSampler.rank = rank
                return RingFeeder.Plan(table: plan.trainTable, spec: plan.spec, sampler: rankSampler, epoch: epoch,
                                       batch: layout.perRank, workers: options.workers, dropLast: true)
            }
            let trained = try session.feed(op: "train", plans: plans, tag: "e\(epoch + 1)", extra: ["epoch": epoch, "step": step]) {
                onStep?(epoch + 1, $0, $1)
            }[0]!
            let trainTime = (ContinuousClock.now - epochStart) / .seconds(1)
            let images = try Self.int(trained, "images")
            step = try Self.int(trained, "step")
            progress.trainedImages += images
            progress.trainSeconds += trainTime
            let evaluation = try plan.evalTable.map { try session.evaluate($0, size: config.size, batch: config.batch) }
            let metrics = EpochMetrics(
                epoch: epoch + 1, loss: try Self.double(trained, "loss_sum") / Double(max(images, 1)),
                trainTop1: Double(try Self.int(trained, "correct")) / Double(max(images, 1)),
                evalTop1: evaluation?.top1, evalTop5: evaluation?.top5, imagesPerSecond: Double(images) / trainTime,
                seconds: (ContinuousClock.now - epochStart) / .seconds(1),
                learningRate: try Self.double(trained, "learning_rate"))
            let cursor = ResumeToken(seed: layout.sampler.seed, epoch: epoch + 1, position: 0, rank: 0, world: layout.world).description
            let path = work + "/epoch-\(epoch + 1).tar"
            _ = try session.ranks.request("checkpoint", [0: ["path": path, "meta": [
                "epoch": epoch + 1, "step": step, "cursor": cursor, "identity": plan.identity,
            ] as [String: Any]]])
            let bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: path)))
            try? FileManager.default.removeItem(atPath: path)
            progress.checkpoint = try TrainRecorder.commitEpoch(
                writer: writer, runID: runID, metrics: metrics, checkpoint: bytes, mediaType: checkpointMediaType,
                cursor: cursor, keep: options.keepCheckpoints)
            progress.last = (metrics, evaluation)
            onEpoch(metrics)
        }
    }

    /// The ranks of one run and the rings that feed them.
    struct Session {
        var store: Store
        var ranks: TorchRanks
        var workers: Int
        /// Ring names start with it (one per run, so two runs on a machine never collide).
        var prefix: String

        /// Starts one feeder per plan (rank), sends `op` with each rank's ring, waits for every
        /// answer and every feeder. On any failure every feeder is stopped and its ring removed;
        /// a loader's failure is reported rather than the worker's view of it.
        func feed(op: String, plans: [RingFeeder.Plan], tag: String, extra: [String: Any],
                  progress: @escaping (Int, Int) -> Void) throws -> [Int: [String: Any]] {
            let feeders = plans.enumerated().map { rank, plan in
                RingFeeder(name: "\(prefix)-\(tag)-r\(rank)", store: store, plan: plan)
            }
            do {
                var payloads: [Int: [String: Any]] = [:]
                for (rank, feeder) in feeders.enumerated() { payloads[rank] = extra.merging(["ring": feeder.name]) { $1 } }
                let answers = try ranks.request(op, payloads, progress: progress)
                for feeder in feeders { try feeder.wait() }
                return answers
            } catch {
                for feeder in feeders { feeder.cancel() }
                var loaderFailure: (any Error)?
                for feeder in feeders {
                    do { try feeder.wait() } catch { loaderFailure = loaderFailure ?? error }
                    feeder.discard()
                }
                throw loaderFailure ?? error
            }
        }

        /// Rank 0 evaluates the whole selection (resize + centre crop, in order), as the Swift trainer does.
        func evaluate(_ table: SampleTable, size: Int, batch: Int) throws -> Evaluation {
            let plan = RingFeeder.Plan(table: table, spec: TransformSpec(size: size, augment: .eval), sampler: SamplerConfig(seed: 0),
                                       epoch: 0, batch: batch, workers: workers, dropLast: false)
            let answer = try feed(op: "evaluate", plans: [plan], tag: "eval-\(UUID().uuidString.prefix(4))", extra: [:]) { _, _ in }[0]!
            let correct = try (answer["per_class_correct"] as? [NSNumber]).orThrow("per_class_correct").map(\.intValue)
            let total = try (answer["per_class_total"] as? [NSNumber]).orThrow("per_class_total").map(\.intValue)
            guard correct.count == total.count else { throw TrainError(.internal, "the torch trainer's evaluation has mismatched per-class counts") }
            let images = try TorchTrainRun.int(answer, "images")
            let n = Double(max(images, 1))
            return Evaluation(
                images: images, top1: Double(try TorchTrainRun.int(answer, "top1_correct")) / n,
                top5: Double(try TorchTrainRun.int(answer, "top5_correct")) / n,
                perClass: correct.indices.map { label in
                    ClassAccuracy(label: label, name: label < table.classNames.count ? table.classNames[label] : "\(label)",
                                  correct: correct[label], total: total[label])
                })
        }
    }

    static func int(_ answer: [String: Any], _ key: String) throws -> Int {
        try (answer[key] as? NSNumber).orThrow(key).intValue
    }

    static func double(_ answer: [String: Any], _ key: String) throws -> Double {
        try (answer[key] as? NSNumber).orThrow(key).doubleValue
    }
}

private extension Optional {
    func orThrow(_ key: String) throws -> Wrapped {
        guard let self else { throw TrainError(.internal, "the torch trainer's answer has no \"\(key)\"") }
        return self
    }
}
