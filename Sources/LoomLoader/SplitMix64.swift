/// SplitMix64 (Steele, Lea, Flood 2014): a tiny seedable generator with good mixing.
///
/// Every random choice Loom makes (epoch permutations, crops, flips, benchmark corpora) is derived
/// from it, so runs reproduce exactly on any machine and any number of workers.
public struct SplitMix64: RandomNumberGenerator, Sendable {
    private var state: UInt64

    public init(seed: UInt64) { state = seed }

    /// A generator for one purpose, derived from several keys (seed, epoch, sample, ...).
    public init(keys: UInt64...) {
        var mixed: UInt64 = 0x243F_6A88_85A3_08D3
        for key in keys {
            var g = SplitMix64(seed: mixed ^ key)
            mixed = g.next()
        }
        state = mixed
    }

    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// Uniform in [0, 1) with 53 bits.
    public mutating func unit() -> Double { Double(next() >> 11) * 0x1.0p-53 }

    /// Uniform in `range` (inclusive bounds), like Python's `random.randint`.
    public mutating func int(in range: ClosedRange<Int>) -> Int {
        range.lowerBound + Int(next() % UInt64(range.count))
    }
}
