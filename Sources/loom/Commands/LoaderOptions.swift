import ArgumentParser
import Foundation
import LoomLoader
import LoomStore

/// What to load and in which order: shared by `order`, `stream`, `cache` and `bench loader`.
struct SelectionOptions: ParsableArguments {
    @Option(help: "Dataset name.")
    var dataset: String?

    @Option(help: "Split.")
    var split: String = "train"

    @Option(name: .customLong("class"), help: "Only this class (repeatable; folder id, display or prompt name).")
    var classes: [String] = []

    @Option(help: "A selection instead of --dataset/--split: DATASET:SPLIT or DATASET:synthetic:STRATEGY, each [*WEIGHT], joined with + (a weighted mixture).")
    var selection: String?

    func resolve() throws -> Selection {
        if let selection {
            guard dataset == nil else { throw ValidationError("give --selection or --dataset, not both") }
            return try Selection(parsing: selection)
        }
        guard let dataset else { throw ValidationError("--dataset (or --selection) is required") }
        return Selection(dataset: dataset, split: split, classes: classes.isEmpty ? nil : classes)
    }
}

struct SamplerOptions: ParsableArguments {
    @Option(help: "Shuffle seed.")
    var seed: UInt64 = 0

    @Option(help: "Epoch (each epoch is a new permutation).")
    var epoch: Int = 0

    @Option(help: "This process's rank.")
    var rank: Int = 0

    @Option(help: "Number of ranks.")
    var world: Int = 1

    @Option(help: "Epoch samples that do not divide evenly across ranks: pad (wrap around) or drop.")
    var remainder: RankRemainder = .pad

    @Option(name: .customLong("epoch-length"), help: "Samples per epoch for a mixture (default: all).")
    var epochLength: Int?

    var config: SamplerConfig {
        SamplerConfig(seed: seed, rank: rank, world: world, remainder: remainder, epochLength: epochLength)
    }
}

/// Batch geometry and transform, shared by `stream` and `bench loader`.
struct BatchOptions: ParsableArguments {
    @Option(help: "Batch size.")
    var batch: Int = 256

    @Option(help: "Output side in pixels.")
    var size: Int = 224

    @Option(help: "train (random resized crop + flip) or eval (resize + centre crop).")
    var augment: Augment = .train

    @Option(help: "Decoding threads (default: all cores).")
    var workers: Int = ProcessInfo.processInfo.activeProcessorCount

    @Flag(name: .customLong("no-cache"), help: "Ignore the pixel cache.")
    var noCache = false

    var spec: TransformSpec { TransformSpec(size: size, augment: augment) }

    /// The cache short side to look up, unless the cache is off.
    var cacheShortSide: Int? { noCache ? nil : spec.evalResize }
}

extension RankRemainder: ExpressibleByArgument {}
extension Augment: ExpressibleByArgument {}
