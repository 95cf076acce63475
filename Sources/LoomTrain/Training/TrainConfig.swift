import Foundation
import LoomStore

/// What a training run is: the data, the model and every hyper-parameter that changes the
/// weights. Two runs with equal configs (and equal training samples) train the same model, so
/// the config's canonical JSON is the run's identity for `--resume` and for reusing a finished
/// run. Operational settings that do not change the result (threads, loader workers) are not
/// part of it.
public struct TrainConfig: Codable, Sendable, Hashable {
    /// The training selection (`DATASET:SPLIT`, `DATASET:synthetic:STRATEGY`, `+`, `*W`).
    public var train: String
    /// The evaluation selection, normally the real validation split.
    public var eval: String?
    public var model: String
    public var epochs: Int
    /// Input side in pixels.
    public var size: Int
    public var batch: Int
    public var seed: Int64
    public var learningRate: Double
    public var momentum: Double
    public var weightDecay: Double
    public var nesterov: Bool
    /// Linear warm-up before the cosine decay, in epochs.
    public var warmupEpochs: Double
    public var labelSmoothing: Double
    /// RandomResizedCrop's smallest crop, as a fraction of the image area (torchvision: 0.08).
    /// Small images (28-32 px) train better with a larger floor, e.g. 0.35.
    public var cropScale: Double
    /// Who does the arithmetic: nil is Loom's Swift CPU trainer (and keeps the identities of runs
    /// made before there was a choice), `.torch` the PyTorch worker. Part of the identity: the two
    /// train different weights from the same config.
    public var trainer: Trainer?

    public init(train: String, eval: String?, model: String = "resnet-small", epochs: Int, size: Int = 32, batch: Int = 128,
                seed: Int64 = 0, learningRate: Double = 0.1, momentum: Double = 0.9, weightDecay: Double = 5e-4,
                nesterov: Bool = false, warmupEpochs: Double = 1, labelSmoothing: Double = 0, cropScale: Double = 0.08, trainer: Trainer? = nil) {
        self.train = train
        self.eval = eval
        self.model = model
        self.epochs = epochs
        self.size = size
        self.batch = batch
        self.seed = seed
        self.learningRate = learningRate
        self.momentum = momentum
        self.weightDecay = weightDecay
        self.nesterov = nesterov
        self.warmupEpochs = warmupEpochs
        self.labelSmoothing = labelSmoothing
        self.cropScale = cropScale
        self.trainer = trainer == .swift ? nil : trainer
    }

    enum CodingKeys: String, CodingKey {
        case train, eval, model, epochs, size, batch, seed, momentum, nesterov, trainer
        case learningRate = "learning_rate"
        case weightDecay = "weight_decay"
        case warmupEpochs = "warmup_epochs"
        case labelSmoothing = "label_smoothing"
        case cropScale = "crop_scale"
    }

    /// Rejects settings that cannot train, naming the option.
    public func validate() throws {
        func check(_ ok: Bool, _ message: String) throws { if !ok { throw TrainError(.invalidInput, message) } }
        try check(epochs >= 1, "--epochs must be at least 1 (got \(epochs))")
        try check((8...1024).contains(size), "--size must be 8...1024 pixels (got \(size))")
        try check(batch >= 2, "--batch must be at least 2: batch norm needs two samples (got \(batch))")
        try check(learningRate > 0 && learningRate.isFinite, "--lr must be positive (got \(learningRate))")
        try check((0..<1).contains(momentum), "--momentum must be in [0, 1) (got \(momentum))")
        try check(weightDecay >= 0 && weightDecay.isFinite, "--weight-decay must be >= 0 (got \(weightDecay))")
        try check(warmupEpochs >= 0 && warmupEpochs.isFinite, "--warmup-epochs must be >= 0 (got \(warmupEpochs))")
        try check(cropScale > 0 && cropScale <= 1, "--crop-scale must be in (0, 1] (got \(cropScale))")
        try check((0..<1).contains(labelSmoothing), "--label-smoothing must be in [0, 1) (got \(labelSmoothing))")
        if trainer == .torch {
            // Any torchvision classification model: the worker knows the list and names it on a typo.
            let allowed = Set("abcdefghijklmnopqrstuvwxyz0123456789_-.")
            try check(!model.isEmpty && model.allSatisfy(allowed.contains),
                      "--model must be a torchvision model name such as resnet50, or resnet-small (got \"\(model)\")")
        } else {
            try check(ModelSpec.names.contains(model),
                      "unknown model \"\(model)\"; known: \(ModelSpec.names.joined(separator: ", "))")
        }
    }

    /// Sorted-key JSON with the training samples' identity: equal strings, equal runs.
    func identity(samples: SampleSetIdentity) throws -> String {
        struct Identity: Encodable {
            var config: TrainConfig
            var samples: SampleSetIdentity
        }
        return try CanonicalJSON.text(Identity(config: self, samples: samples))
    }
}

/// The two trainers behind `loom train --trainer`.
public enum Trainer: String, Codable, Sendable, CaseIterable {
    /// Loom's own CPU trainer (OpenBLAS), the default.
    case swift
    /// PyTorch in a worker process (tools/workers/torch_trainer.py), on CPU or CUDA, one or more ranks.
    case torch
}
