import Foundation
import LoomStore
import LoomTrain

/// The seed's comparison for one real dataset: which prompt strategies, how the synthetic images
/// are made, and how every model is trained. Its canonical JSON is the experiment's identity: a
/// re-run with the same config continues (and reuses) the same experiment.
public struct ExperimentConfig: Codable, Sendable, Hashable {
    public var dataset: String
    /// Prompt strategies, one model each (trained on that strategy's synthetic images only).
    public var strategies: [String]
    /// Synthetic images per caption prompt. Prompts without a caption (one per class) get this
    /// times the class's share of real training images, so every strategy trains on as many images.
    public var perPrompt: Int
    public var captioner: String
    public var generator: String
    /// Side of the generated images, in pixels.
    public var imageSize: Int
    public var steps: Int
    public var guidance: Double
    /// Base seed of the generated images.
    public var generationSeed: Int64
    /// Real split whose images are captioned (and trained on by the baseline).
    public var trainSplit: String
    /// Real split every model is evaluated on.
    public var evalSplit: String
    /// Also train on the real training split, the upper reference.
    public var realBaseline: Bool
    /// Model and optimisation shared by every training; `train`/`eval` are filled per model.
    public var training: TrainConfig

    public init(dataset: String, strategies: [String] = ["class-name", "class-caption"], perPrompt: Int = 1,
                captioner: String = "builtin:stats", generator: String = "builtin:procedural", imageSize: Int = 64,
                steps: Int = 30, guidance: Double = 7.5, generationSeed: Int64 = 0, trainSplit: String = "train",
                evalSplit: String = "val", realBaseline: Bool = false, training: TrainConfig) {
        self.dataset = dataset
        self.strategies = strategies
        self.perPrompt = perPrompt
        self.captioner = captioner
        self.generator = generator
        self.imageSize = imageSize
        self.steps = steps
        self.guidance = guidance
        self.generationSeed = generationSeed
        self.trainSplit = trainSplit
        self.evalSplit = evalSplit
        self.realBaseline = realBaseline
        self.training = training
    }

    enum CodingKeys: String, CodingKey {
        case dataset, strategies, captioner, generator, steps, guidance, training
        case perPrompt = "per_prompt"
        case imageSize = "image_size"
        case generationSeed = "generation_seed"
        case trainSplit = "train_split"
        case evalSplit = "eval_split"
        case realBaseline = "real_baseline"
    }

    public func validate() throws {
        guard !strategies.isEmpty else { throw TrainError(.invalidInput, "--strategies needs at least one strategy") }
        guard Set(strategies).count == strategies.count else { throw TrainError(.invalidInput, "--strategies lists a strategy twice") }
        guard perPrompt >= 1 else { throw TrainError(.invalidInput, "--per-prompt must be at least 1") }
        guard (8...4096).contains(imageSize) else { throw TrainError(.invalidInput, "--image-size must be 8...4096") }
        guard trainSplit != evalSplit else { throw TrainError(.invalidInput, "the training and evaluation splits must differ") }
        try training.validate()
    }

    var canonicalJSON: String {
        get throws { try CanonicalJSON.text(self) }
    }
}
