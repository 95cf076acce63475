import Foundation
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
        let (runID, resumed) = try experimentRow(writer: writer, config: config, json: try config.canonicalJSON)
        do {
            let strategies = try config.strategies.map { try PromptStrategy(name: $0) }
            let (captioned, captioner) = try caption(writer: writer, config: config, strategies: strategies, options: options,
                                                     events: events)
            let generated = try generate(writer: writer, config: config, strategies: strategies, captioner: captioner,
                                         options: options, events: events)
            let results = try trainModels(writer: writer, config: config, experimentID: runID, options: options, events: events)
            var summary = ExperimentSummary(
                runID: runID, name: options.name ?? "experiment-\(runID)", resumed: resumed, dataset: config.dataset,
                reportDirectory: "", captioned: captioned, generated: generated, results: results,
                seconds: (ContinuousClock.now - start) / .seconds(1), config: config)
            summary.reportDirectory = try ExperimentReport.write(summary, to: options.reportsDirectory)
            let json = try summary.canonicalJSON
            try writer.transaction { try $0.runs.finish(id: runID, summary: json) }
            return summary
        } catch {
            try? writer.transaction { try $0.runs.fail(id: runID, message: "\(error)") }
            throw error
        }
    }

    /// The experiment's run row: the newest with this config (to continue, even a finished one:
    /// every step is checked again and the report rewritten), else a new one.
    static func experimentRow(writer: StoreWriter, config: ExperimentConfig, json: String) throws -> (Int64, Bool) {
        try writer.transaction { tx in
            guard let dataset = try tx.snapshot.datasets.dataset(named: config.dataset) else {
                throw TrainError(.notFound, "no dataset named \"\(config.dataset)\"")
            }
            if let earlier = try tx.snapshot.runs.runs(RunFilter(stage: .experiment, config: json), offset: 0, limit: 1).first {
                if earlier.status == .finished {
                    try tx.runs.reopen(id: earlier.id)
                } else {
                    try tx.runs.resume(id: earlier.id, parentID: nil)
                }
                return (earlier.id, true)
            }
            return (try tx.runs.begin(stage: .experiment, datasetID: dataset.id, parentID: nil, config: json), false)
        }
    }

    /// Captions the training split when a strategy uses captions: how many were added, and the captioner's name.
    static func caption(writer: StoreWriter, config: ExperimentConfig, strategies: [PromptStrategy], options: Options,
                        events: Events) throws -> (captioned: Int, captioner: String?) {
        guard strategies.contains(where: \.usesCaption) else { return (0, nil) }
        let captioners = try Backends.captioners(config.captioner, fanout: options.backendFanout)
        events.stage("captioning \(config.dataset):\(config.trainSplit) with \(config.captioner)")
        let summary = try CaptionRun.run(writer: writer, dataset: config.dataset, split: config.trainSplit, captioners: captioners)
        guard summary.failed.isEmpty else {
            throw TrainError(.internal, "\(summary.failed.count) images could not be captioned, e.g. \(summary.failed[0].path): \(summary.failed[0].error)")
        }
        return (summary.captioned, captioners.first.name)
    }

    /// Builds each strategy's prompts and generates their images; how many images were added.
    static func generate(writer: StoreWriter, config: ExperimentConfig, strategies: [PromptStrategy], captioner: String?,
                         options: Options, events: Events) throws -> Int {
        let generators = try Backends.generators(config.generator, fanout: options.backendFanout)
        let (realTrain, classCount) = try realTrainingCounts(store: writer.store, config: config)
        var generated = 0
        for strategy in strategies {
            _ = try PromptBuilder.run(writer: writer, dataset: config.dataset, strategy: strategy,
                                      captioner: strategy.usesCaption ? captioner : nil, split: config.trainSplit)
            try checkNoLeak(store: writer.store, config: config, strategy: strategy.name)
            let perPrompt = strategy.usesCaption
                ? config.perPrompt
                : config.perPrompt * Int((Double(realTrain) / Double(classCount)).rounded(.up))
            events.stage("generating \(strategy.name): \(perPrompt) per prompt with \(config.generator)")
            let summary = try GenerateRun.run(
                writer: writer, dataset: config.dataset, generators: generators,
                options: .init(strategy: strategy.name, perPrompt: perPrompt, seed: config.generationSeed, steps: config.steps,
                               guidance: config.guidance, width: config.imageSize, height: config.imageSize))
            guard summary.failed.isEmpty else {
                throw TrainError(.internal, "\(summary.failed.count) images of \(strategy.name) failed to generate: \(summary.failed[0].error)")
            }
            generated += summary.generated
        }
        return generated
    }

    /// One model per strategy (and the real baseline), each trained, or reused, as a child of the experiment.
    static func trainModels(writer: StoreWriter, config: ExperimentConfig, experimentID: Int64, options: Options,
                            events: Events) throws -> [ModelResult] {
        var models: [(label: String, selection: String)] = config.strategies.map { ($0, "\(config.dataset):synthetic:\($0)") }
        if config.realBaseline { models.append(("real", "\(config.dataset):\(config.trainSplit)")) }
        return try models.map { label, selection in
            var training = config.training
            training.train = selection
            training.eval = "\(config.dataset):\(config.evalSplit)"
            events.stage("training \(label) on \(selection), evaluating on \(training.eval!)")
            let summary = try TrainRun.run(
                writer: writer, config: training,
                options: .init(workers: options.workers, threads: options.threads, resume: true, reuse: true,
                               parentRunID: experimentID, blasKernel: options.blasKernel, torch: options.torch),
                onEpoch: { events.epoch(label, $0) }, onStep: events.step)
            try writer.transaction { try $0.runs.adopt(id: summary.runID, parentID: experimentID) }
            return ModelResult(label: label, selection: selection, summary: summary,
                               history: try history(runID: summary.runID, store: writer.store))
        }
    }

    /// Real training images and classes, for sizing the class-level strategies' generation.
    static func realTrainingCounts(store: Store, config: ExperimentConfig) throws -> (images: Int, classes: Int) {
        let (images, classes) = try store.read { catalog -> (Int, Int) in
            guard let dataset = try catalog.datasets.dataset(named: config.dataset) else { return (0, 0) }
            let images = try catalog.datasets.split(named: config.trainSplit, of: dataset.id)
                .map { try catalog.datasets.realImageCount(of: $0.id) } ?? 0
            return (images, try catalog.datasets.classes(of: dataset.id).count)
        }
        guard images > 0, classes > 0 else {
            throw TrainError(.notFound, "dataset \(config.dataset) has no images in split \"\(config.trainSplit)\"")
        }
        return (images, classes)
    }

    /// Refuses a strategy whose prompts include captions of images outside the training split:
    /// their synthetic images would carry the evaluation images' content into training.
    static func checkNoLeak(store: Store, config: ExperimentConfig, strategy: String) throws {
        let leaks = try store.read { catalog in
            try catalog.datasets.dataset(named: config.dataset).map {
                try catalog.prompts.countFromCaptions(of: $0.id, strategy: strategy, outside: config.trainSplit)
            } ?? 0
        }
        guard leaks == 0 else {
            throw TrainError(.conflict, """
                \(leaks) prompts of strategy \(strategy) in \(config.dataset) were made from captions of images outside \
                the \(config.trainSplit) split; training on their images would leak evaluation data. Use another \
                strategy name (loom prompts --strategy NAME --template ... --split \(config.trainSplit)) or remove them.
                """)
        }
    }

    static func history(runID: Int64, store: Store) throws -> [EpochPoint] {
        try store.read { try $0.training.epochs(of: runID) }.map {
            EpochPoint(epoch: $0.epoch, loss: $0.loss, trainTop1: $0.trainTop1, evalTop1: $0.evalTop1, evalTop5: $0.evalTop5)
        }
    }
}
