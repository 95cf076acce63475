/// One finished epoch: a line of `loom train --json` and a `train_epochs` row.
public struct EpochMetrics: Codable, Sendable, Hashable {
    /// 1-based: the epoch just finished.
    public var epoch: Int
    /// Mean training loss over the epoch's samples.
    public var loss: Double
    public var trainTop1: Double
    public var evalTop1: Double?
    public var evalTop5: Double?
    /// Training images per second (the training loop only, not evaluation).
    public var imagesPerSecond: Double
    /// Training and evaluation of the epoch.
    public var seconds: Double
    public var learningRate: Double

    enum CodingKeys: String, CodingKey {
        case epoch, loss, seconds
        case trainTop1 = "train_top1"
        case evalTop1 = "eval_top1"
        case evalTop5 = "eval_top5"
        case imagesPerSecond = "images_per_s"
        case learningRate = "learning_rate"
    }
}

/// Accuracy of one class in an evaluation.
public struct ClassAccuracy: Codable, Sendable, Hashable {
    public var label: Int
    public var name: String
    public var correct: Int
    public var total: Int
    public var top1: Double { total == 0 ? 0 : Double(correct) / Double(total) }

    enum CodingKeys: String, CodingKey { case label, name, correct, total, top1 }

    public init(label: Int, name: String, correct: Int, total: Int) {
        self.label = label
        self.name = name
        self.correct = correct
        self.total = total
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        label = try c.decode(Int.self, forKey: .label)
        name = try c.decode(String.self, forKey: .name)
        correct = try c.decode(Int.self, forKey: .correct)
        total = try c.decode(Int.self, forKey: .total)
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(label, forKey: .label)
        try c.encode(name, forKey: .name)
        try c.encode(correct, forKey: .correct)
        try c.encode(total, forKey: .total)
        try c.encode(top1, forKey: .top1)
    }
}

/// The result of a training run: the summary line of `loom train --json` and the run row's summary.
public struct TrainSummary: Codable, Sendable, Hashable {
    public var runID: Int64
    /// True when a finished run with the same config and samples was found and nothing was trained.
    public var reused: Bool
    /// Epochs already done when this call started (from a checkpoint), 0 for a fresh run.
    public var resumedFromEpoch: Int
    public var epochs: Int
    public var model: String
    public var parameters: Int
    public var trainImages: Int
    public var evalImages: Int
    public var loss: Double
    public var trainTop1: Double
    public var evalTop1: Double?
    public var evalTop5: Double?
    /// Mean training images per second over the epochs this call trained.
    public var imagesPerSecond: Double
    public var seconds: Double
    public var blasKernel: String
    /// The last checkpoint's blob digest.
    public var checkpoint: String?
    public var perClass: [ClassAccuracy]
    /// The torch trainer's device (`cpu`, `cuda:0`; with several ranks, rank 0's) and torch version;
    /// nil for the Swift trainer.
    public var device: String? = nil
    public var torchVersion: String? = nil
    /// Ranks that trained (the torch trainer's `--gpus`); nil for the Swift trainer.
    public var world: Int? = nil

    enum CodingKeys: String, CodingKey {
        case reused, epochs, model, parameters, loss, seconds, checkpoint, device, world
        case torchVersion = "torch_version"
        case runID = "run_id"
        case resumedFromEpoch = "resumed_from_epoch"
        case trainImages = "train_images"
        case evalImages = "eval_images"
        case trainTop1 = "train_top1"
        case evalTop1 = "eval_top1"
        case evalTop5 = "eval_top5"
        case imagesPerSecond = "images_per_s"
        case blasKernel = "blas_kernel"
        case perClass = "per_class"
    }
}
