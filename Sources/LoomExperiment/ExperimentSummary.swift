import Foundation
import LoomStore
import LoomTrain

/// One eval point of a model's training curve.
public struct EpochPoint: Codable, Sendable, Hashable {
    public var epoch: Int
    public var loss: Double
    public var trainTop1: Double
    public var evalTop1: Double?
    public var evalTop5: Double?

    enum CodingKeys: String, CodingKey {
        case epoch, loss
        case trainTop1 = "train_top1"
        case evalTop1 = "eval_top1"
        case evalTop5 = "eval_top5"
    }
}

/// One model of the experiment: a strategy's synthetic images, or the real baseline.
public struct ModelResult: Codable, Sendable, Hashable {
    /// The strategy, or "real" for the baseline.
    public var label: String
    public var selection: String
    public var summary: TrainSummary
    public var history: [EpochPoint]
}

/// What `loom experiment --json` prints and the experiment's run row keeps.
public struct ExperimentSummary: Codable, Sendable, Hashable {
    public var runID: Int64
    public var name: String
    /// True when an earlier experiment with this config was continued.
    public var resumed: Bool
    public var dataset: String
    public var reportDirectory: String
    public var captioned: Int
    public var generated: Int
    public var results: [ModelResult]
    public var seconds: Double
    public var config: ExperimentConfig

    enum CodingKeys: String, CodingKey {
        case name, resumed, dataset, captioned, generated, results, seconds, config
        case runID = "run_id"
        case reportDirectory = "report_dir"
    }

    var canonicalJSON: String {
        get throws { try CanonicalJSON.text(self) }
    }
}
