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
    // Optionals, so that a resume token can tell a flag the user gave from a default.
    @Option(name: .customLong("seed"), help: "Shuffle seed (default: 0).")
    var givenSeed: UInt64?

    @Option(name: .customLong("epoch"), help: "Epoch (each epoch is a new permutation; default: 0).")
    var givenEpoch: Int?

    @Option(name: .customLong("rank"), help: "This process's rank (default: 0).")
    var givenRank: Int?

    @Option(name: .customLong("world"), help: "Number of ranks (default: 1).")
    var givenWorld: Int?

    @Option(help: "Epoch samples that do not divide evenly across ranks: pad (wrap around) or drop.")
    var remainder: RankRemainder = .pad

    @Option(name: .customLong("epoch-length"), help: "Samples per epoch for a mixture, at least 1 (default: all).")
    var epochLength: Int?

    var seed: UInt64 { givenSeed ?? 0 }
    var epoch: Int { givenEpoch ?? 0 }

    func validate() throws {
        if let givenEpoch, givenEpoch < 0 { throw ValidationError("--epoch must be 0 or more (got \(givenEpoch))") }
        if let givenWorld, givenWorld < 1 { throw ValidationError("--world must be at least 1 (got \(givenWorld))") }
        if let givenRank, givenRank < 0 || givenRank >= (givenWorld ?? 1) {
            throw ValidationError("--rank \(givenRank) is outside --world \(givenWorld ?? 1) (ranks are 0..<world)")
        }
        if let epochLength, epochLength < 1 {
            throw ValidationError("--epoch-length must be at least 1 (got \(epochLength)); leave it out for all samples")
        }
    }

    var config: SamplerConfig {
        SamplerConfig(seed: seed, rank: givenRank ?? 0, world: givenWorld ?? 1, remainder: remainder, epochLength: epochLength)
    }

    /// The sampler config and epoch a resume `token` fixes, after checking that every flag given
    /// beside it agrees: `--resume T --epoch 7` for a token of epoch 0 is a mistake, not a request.
    func resuming(from token: ResumeToken) throws -> (config: SamplerConfig, epoch: Int) {
        let given: [(flag: String, value: String?, token: String)] = [
            ("--seed", givenSeed.map(String.init), String(token.seed)),
            ("--epoch", givenEpoch.map(String.init), String(token.epoch)),
            ("--rank", givenRank.map(String.init), String(token.rank)),
            ("--world", givenWorld.map(String.init), String(token.world)),
        ]
        let conflicts = given.compactMap { flag, value, fixed in
            value.flatMap { $0 == fixed ? nil : "\(flag) \($0) disagrees with the token's \(fixed)" }
        }
        guard conflicts.isEmpty else {
            throw ValidationError("--resume \(token): " + conflicts.joined(separator: "; ") + " (leave them out, or pass what the token says)")
        }
        var config = self.config
        config.seed = token.seed
        config.rank = token.rank
        config.world = token.world
        return (config, token.epoch)
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

    @Flag(name: .customLong("no-cache"),
          help: "Ignore the pixel cache: decode the originals (with the cache, training crops are cut from its evaluation resize).")
    var noCache = false

    var spec: TransformSpec { TransformSpec(size: size, augment: augment) }

    /// The cache short side to look up, unless the cache is off.
    var cacheShortSide: Int? { noCache ? nil : spec.evalResize }
}

extension RankRemainder: ExpressibleByArgument {}
extension Augment: ExpressibleByArgument {}
