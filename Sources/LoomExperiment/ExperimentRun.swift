import Foundation
import GRDB
import LoomPipeline
import LoomStore
import LoomTrain

/// `loom experiment`: the seed's comparison as one resumable command. For a real dataset and a
/// list of prompt strategies it makes sure the training split's captions, each strategy's prompts
/// and the synthetic images exist (reusing what is stored), trains one model per strategy on
/// synthetic images only (plus, optionally, one on the real training split), evaluates each on
/// the real evaluation split and writes a report.
///
/// Every step is idempotent: captions and prompts are only added where missing, generation
/// skips images that exist, and a training whose config and images match a finished run is
/// reused while an interrupted one resumes from its last checkpoint.
public enum ExperimentRun {
    public struct Options: Sendable {
        public var workers: Int
        public var threads: Int
        /// Reports go to `reportsDirectory/<name>/`.
        public var reportsDirectory: String
        /// The report's folder name (default `experiment-<run id>`).
        public var name: String?
        public var blasKernel: String
        /// Where the torch trainer runs, when the training config's trainer is torch.
        public var torch: TorchOptions
        /// Model workers of the caption and generate stages (not part of the config: any layout
        /// makes the same images).
        public var backendFanout: Fanout = .single

        public init(workers: Int = 1, threads: Int = ProcessInfo.processInfo.activeProcessorCount,
                    reportsDirectory: String = "reports", name: String? = nil, blasKernel: String = BLAS.coreName,
                    torch: TorchOptions = .init()) {
            self.workers = workers
            self.threads = threads
            self.reportsDirectory = reportsDirectory
            self.name = name
            self.blasKernel = blasKernel
            self.torch = torch
        }
    }

    /// What the experiment tells its caller while it works.
    public struct Events {
        public var stage: (String) -> Void
        public var epoch: (_ model: String, EpochMetrics) -> Void
        public var step: TrainRun.StepProgress?

        public init(stage: @escaping (String) -> Void = { _ in }, epoch: @escaping (String, EpochMetrics) -> Void = { _, _ in },
                    step: TrainRun.StepProgress? = nil) {
            self.stage = stage
            self.epoch = epoch
            self.step = step
        }
    }

    public static func run(writer: StoreWriter, config: ExperimentConfig, options: Options = .init(),
                           events: Events = .init()) throws -> ExperimentSummary {
        let start = ContinuousClock.now
        try config.validate()
        let store = writer.store
        let configJSON = try config.canonicalJSON
        let (runID, resumed) = try experimentRow(store: store, config: config, json: configJSON)
        let name = options.name ?? "experiment-\(runID)"
        do {
            let strategies = try config.strategies.map { try PromptStrategy(name: $0) }
            var captioned = 0
            var captionerName: String?
            if strategies.contains(where: \.usesCaption) {
                let captioners = try Backends.captioners(config.captioner, fanout: options.backendFanout)
                captionerName = captioners.first.name
                events.stage("captioning \(config.dataset):\(config.trainSplit) with \(config.captioner)")
                let summary = try CaptionRun.run(writer: writer, dataset: config.dataset, split: config.trainSplit, captioners: captioners)
                guard summary.failed.isEmpty else {
                    throw TrainError("\(summary.failed.count) images could not be captioned, e.g. \(summary.failed[0].path): \(summary.failed[0].error)")
                }
                captioned = summary.captioned
            }

            let generators = try Backends.generators(config.generator, fanout: options.backendFanout)
            let (realTrain, classCount) = try realTrainingCounts(store: store, config: config)
            var generated = 0
            for strategy in strategies {
                _ = try PromptBuilder.run(writer: writer, dataset: config.dataset, strategy: strategy,
                                          captioner: strategy.usesCaption ? captionerName : nil, split: config.trainSplit)
                try checkNoLeak(store: store, config: config, strategy: strategy.name)
                let perPrompt = strategy.usesCaption
                    ? config.perPrompt
                    : config.perPrompt * Int((Double(realTrain) / Double(classCount)).rounded(.up))
                events.stage("generating \(strategy.name): \(perPrompt) per prompt with \(config.generator)")
                let summary = try GenerateRun.run(
                    writer: writer, dataset: config.dataset, generators: generators,
                    options: .init(strategy: strategy.name, perPrompt: perPrompt, seed: config.generationSeed, steps: config.steps,
                                   guidance: config.guidance, width: config.imageSize, height: config.imageSize))
                guard summary.failed.isEmpty else {
                    throw TrainError("\(summary.failed.count) images of \(strategy.name) failed to generate: \(summary.failed[0].error)")
                }
                generated += summary.generated
            }

            var models: [(label: String, selection: String)] = config.strategies.map { ($0, "\(config.dataset):synthetic:\($0)") }
            if config.realBaseline { models.append(("real", "\(config.dataset):\(config.trainSplit)")) }
            var results: [ModelResult] = []
            for (label, selection) in models {
                var training = config.training
                training.train = selection
                training.eval = "\(config.dataset):\(config.evalSplit)"
                events.stage("training \(label) on \(selection), evaluating on \(training.eval!)")
                let summary = try TrainRun.run(
                    writer: writer, config: training,
                    options: .init(workers: options.workers, threads: options.threads, resume: true, reuse: true,
                                   parentRunID: runID, blasKernel: options.blasKernel, torch: options.torch),
                    onEpoch: { events.epoch(label, $0) }, onStep: events.step)
                try store.catalog.write { db in
                    try db.execute(sql: "UPDATE runs SET parent_id = ? WHERE id = ?", arguments: [runID, summary.runID])
                }
                results.append(ModelResult(label: label, selection: selection, summary: summary,
                                           history: try history(runID: summary.runID, store: store)))
            }

            var summary = ExperimentSummary(
                runID: runID, name: name, resumed: resumed, dataset: config.dataset, reportDirectory: "",
                captioned: captioned, generated: generated, results: results,
                seconds: (ContinuousClock.now - start) / .seconds(1), config: config)
            summary.reportDirectory = try ExperimentReport.write(summary, to: options.reportsDirectory)
            let json = try summary.canonicalJSON
            try store.catalog.write { db in
                try db.execute(sql: """
                    UPDATE runs SET status = 'finished', summary = ?, finished_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now') WHERE id = ?
                    """, arguments: [json, runID])
            }
            return summary
        } catch {
            try? store.catalog.write { db in
                try db.execute(sql: "UPDATE runs SET status = 'failed', summary = json_object('error', ?) WHERE id = ?",
                               arguments: ["\(error)", runID])
            }
            throw error
        }
    }

    /// The experiment's run row: the newest with this config (to continue), else a new one.
    static func experimentRow(store: Store, config: ExperimentConfig, json: String) throws -> (Int64, Bool) {
        try store.catalog.write { db in
            guard let datasetID = try DatasetCatalog.datasetID(db, name: config.dataset) else {
                throw TrainError("no dataset named \"\(config.dataset)\"")
            }
            if let id = try Int64.fetchOne(db, sql: """
                SELECT id FROM runs WHERE stage = 'experiment' AND config = ? ORDER BY id DESC LIMIT 1
                """, arguments: [json]) {
                try db.execute(sql: "UPDATE runs SET status = 'running' WHERE id = ?", arguments: [id])
                return (id, true)
            }
            try db.execute(sql: "INSERT INTO runs (stage, dataset_id, config, status) VALUES ('experiment', ?, ?, 'running')",
                           arguments: [datasetID, json])
            return (db.lastInsertedRowID, false)
        }
    }

    /// Real training images and classes, for sizing the class-level strategies' generation.
    static func realTrainingCounts(store: Store, config: ExperimentConfig) throws -> (images: Int, classes: Int) {
        try store.catalog.read { db in
            let images = try Int.fetchOne(db, sql: """
                SELECT count(*) FROM real_images r JOIN splits s ON s.id = r.split_id JOIN datasets d ON d.id = s.dataset_id
                WHERE d.name = ? AND s.name = ?
                """, arguments: [config.dataset, config.trainSplit]) ?? 0
            let classes = try Int.fetchOne(db, sql: """
                SELECT count(*) FROM classes c JOIN datasets d ON d.id = c.dataset_id WHERE d.name = ?
                """, arguments: [config.dataset]) ?? 0
            guard images > 0, classes > 0 else {
                throw TrainError("dataset \(config.dataset) has no images in split \"\(config.trainSplit)\"")
            }
            return (images, classes)
        }
    }

    /// Refuses a strategy whose prompts include captions of images outside the training split:
    /// their synthetic images would carry the evaluation images' content into training.
    static func checkNoLeak(store: Store, config: ExperimentConfig, strategy: String) throws {
        let leaks = try store.catalog.read { db in
            try Int.fetchOne(db, sql: """
                SELECT count(*) FROM prompts p JOIN datasets d ON d.id = p.dataset_id
                JOIN captions c ON c.id = p.caption_id JOIN real_images r ON r.id = c.real_image_id
                JOIN splits s ON s.id = r.split_id
                WHERE d.name = ? AND p.strategy = ? AND s.name != ?
                """, arguments: [config.dataset, strategy, config.trainSplit]) ?? 0
        }
        guard leaks == 0 else {
            throw TrainError("""
                \(leaks) prompts of strategy \(strategy) in \(config.dataset) were made from captions of images outside \
                the \(config.trainSplit) split; training on their images would leak evaluation data. Use another \
                strategy name (loom prompts --strategy NAME --template ... --split \(config.trainSplit)) or remove them.
                """)
        }
    }

    static func history(runID: Int64, store: Store) throws -> [EpochPoint] {
        try store.catalog.read { db in
            try Row.fetchAll(db, sql: "SELECT epoch, loss, train_top1, eval_top1, eval_top5 FROM train_epochs WHERE run_id = ? ORDER BY epoch",
                             arguments: [runID]).map { row in
                EpochPoint(epoch: row["epoch"], loss: row["loss"], trainTop1: row["train_top1"], evalTop1: row["eval_top1"],
                           evalTop5: row["eval_top5"])
            }
        }
    }
}
