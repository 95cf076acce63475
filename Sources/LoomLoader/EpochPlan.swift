/// How an epoch's samples are split across ranks when the count does not divide evenly.
public enum RankRemainder: String, Sendable, Codable, CaseIterable {
    /// Wrap around to the epoch's first samples so every rank gets `ceil(n / world)` (PyTorch's
    /// `DistributedSampler` default): a few samples are seen twice in the epoch.
    case pad
    /// Drop the last `n % world` samples of the permutation: every rank gets `floor(n / world)`.
    case drop
}

/// The sampler's settings; with the epoch they determine a rank's order completely.
public struct SamplerConfig: Sendable, Hashable {
    public var seed: UInt64
    public var rank: Int
    public var world: Int
    public var remainder: RankRemainder
    /// Samples per epoch for a mixture (default: all samples of all components).
    public var epochLength: Int?

    public init(seed: UInt64, rank: Int = 0, world: Int = 1, remainder: RankRemainder = .pad, epochLength: Int? = nil) {
        self.seed = seed
        self.rank = rank
        self.world = world
        self.remainder = remainder
        self.epochLength = epochLength
    }

    public func validate() throws {
        guard world >= 1, rank >= 0, rank < world else { throw LoaderError("rank \(rank) is outside world size \(world)") }
        if let epochLength, epochLength < 1 {
            // Zero used to slip through as "all samples" (one selection) or an empty epoch (a mixture).
            throw LoaderError("epoch length must be at least 1 (got \(epochLength)); leave it out for all samples")
        }
    }
}

/// One rank's sample order for one epoch.
///
/// The epoch's permutation depends only on (seed, epoch) — never on worker count or rank — so
/// ranks are disjoint slices of one shared order (rank r takes positions r, r + world, ...), and
/// together they cover the epoch.
public struct EpochPlan: Sendable {
    public let epoch: Int
    /// Indices into the ``SampleTable``, in delivery order.
    public let order: [UInt32]

    public init(table: SampleTable, config: SamplerConfig, epoch: Int) {
        self.epoch = epoch
        let all = Self.epochOrder(table: table, config: config, epoch: epoch)
        let n = all.count, world = config.world
        guard world > 1 else { order = all; return }
        // ceil(n / world) without n + world - 1, which overflows for a world near Int.max (a cursor can say so).
        let perRank = config.remainder == .pad ? n / world + (n % world == 0 ? 0 : 1) : n / world
        var mine: [UInt32] = []
        mine.reserveCapacity(perRank)
        for k in 0..<perRank {
            let position = config.rank + k * world
            mine.append(all[position % n])
        }
        order = mine
    }

    /// The whole epoch's order (all ranks): a permutation of the samples, or for a mixture, a
    /// weighted draw from each component's own permutation, then shuffled together.
    static func epochOrder(table: SampleTable, config: SamplerConfig, epoch: Int) -> [UInt32] {
        var rng = SplitMix64(keys: config.seed, UInt64(epoch), 0x5A4D_504C)
        if table.components.count <= 1 {
            return permutation(count: table.count, rng: &rng, offset: 0)
        }
        let length = config.epochLength ?? table.count
        let totalWeight = table.components.reduce(0) { $0 + $1.weight }
        // Largest-remainder rounding: counts add up to exactly `length`.
        let exact = table.components.map { Double(length) * $0.weight / totalWeight }
        var counts = exact.map { Int($0.rounded(.down)) }
        let order = exact.indices.sorted { exact[$0] - Double(counts[$0]) > exact[$1] - Double(counts[$1]) }
        for i in order.prefix(length - counts.reduce(0, +)) { counts[i] += 1 }
        var drawn: [UInt32] = []
        drawn.reserveCapacity(length)
        for (index, component) in table.components.enumerated() {
            var componentRNG = SplitMix64(keys: config.seed, UInt64(epoch), UInt64(index), 0x434F_4D50)
            var pool: [UInt32] = []
            let target = drawn.count + counts[index]
            while drawn.count < target {
                if pool.isEmpty {
                    pool = permutation(count: component.range.count, rng: &componentRNG, offset: component.range.lowerBound).reversed()
                }
                drawn.append(pool.removeLast())
            }
        }
        shuffle(&drawn, rng: &rng)
        return drawn
    }

    static func permutation(count: Int, rng: inout SplitMix64, offset: Int) -> [UInt32] {
        var order = (0..<count).map { UInt32($0 + offset) }
        shuffle(&order, rng: &rng)
        return order
    }

    /// Fisher-Yates with our own generator (the standard library's shuffle algorithm is not
    /// specified, so it could change between Swift versions and break reproducibility).
    static func shuffle(_ values: inout [UInt32], rng: inout SplitMix64) {
        guard values.count > 1 else { return }
        for i in stride(from: values.count - 1, to: 0, by: -1) {
            let j = Int(rng.next() % UInt64(i + 1))
            values.swapAt(i, j)
        }
    }
}
