@testable import LoomLoader
import LoomStore
import Testing

/// The sampler (``EpochPlan``): permutations, rank splits, reproducibility.
@Suite struct SamplerTests {
    static let counts = [1, 2, 3, 7, 47, 100]

    @Test(arguments: counts)
    func worldOneDeliversEverySampleOnce(count: Int) {
        let table = syntheticTable(components: [count])
        for seed: UInt64 in [0, 1, 12345] {
            for epoch in 0..<3 {
                let plan = EpochPlan(table: table, config: SamplerConfig(seed: seed), epoch: epoch)
                #expect(plan.order.count == count)
                #expect(plan.order.sorted() == (0..<count).map(UInt32.init), "seed \(seed) epoch \(epoch)")
                #expect(plan.epoch == epoch)
            }
        }
    }

    @Test(arguments: [2, 3, 4])
    func dropGivesAnExactDisjointCover(world: Int) {
        for count in Self.counts {
            let table = syntheticTable(components: [count])
            let full = EpochPlan(table: table, config: SamplerConfig(seed: 9), epoch: 2).order
            let plans = (0..<world).map { rank in
                EpochPlan(table: table, config: SamplerConfig(seed: 9, rank: rank, world: world, remainder: .drop), epoch: 2).order
            }
            let kept = count - count % world
            for (rank, order) in plans.enumerated() {
                #expect(order.count == count / world, "n \(count) world \(world) rank \(rank)")
            }
            let union = plans.flatMap { $0 }
            #expect(union.count == kept)
            #expect(Set(union).count == kept, "ranks overlap: n \(count) world \(world)")
            // Together the ranks take exactly the first n - n % world positions of the shared order.
            #expect(Set(union) == Set(full.prefix(kept)), "n \(count) world \(world)")
        }
    }

    @Test(arguments: [2, 3, 4])
    func padGivesEveryRankTheCeiling(world: Int) {
        for count in Self.counts {
            let table = syntheticTable(components: [count])
            let plans = (0..<world).map { rank in
                EpochPlan(table: table, config: SamplerConfig(seed: 4, rank: rank, world: world, remainder: .pad), epoch: 1).order
            }
            let perRank = (count + world - 1) / world
            for (rank, order) in plans.enumerated() {
                #expect(order.count == perRank, "n \(count) world \(world) rank \(rank)")
                #expect(Set(order).count == order.count || count < world, "a rank sees a sample twice: n \(count) rank \(rank)")
            }
            let union = plans.flatMap { $0 }
            #expect(Set(union) == Set((0..<count).map(UInt32.init)), "n \(count) world \(world)")
            // Only the padding repeats: exactly perRank * world - n extra deliveries.
            #expect(union.count - count == perRank * world - count)
            if count >= world {
                var seen: [UInt32: Int] = [:]
                for sample in union { seen[sample, default: 0] += 1 }
                #expect(seen.values.filter { $0 > 1 }.count == perRank * world - count)
                #expect(seen.values.allSatisfy { $0 <= 2 })
            }
        }
    }

    @Test func ranksAreInterleavedSlicesOfOneSharedOrder() {
        let table = syntheticTable(components: [47])
        let full = EpochPlan(table: table, config: SamplerConfig(seed: 77), epoch: 3).order
        for world in 2...4 {
            for rank in 0..<world {
                let order = EpochPlan(table: table, config: SamplerConfig(seed: 77, rank: rank, world: world), epoch: 3).order
                let expected = (0..<order.count).map { full[(rank + $0 * world) % full.count] }
                #expect(order == expected, "world \(world) rank \(rank)")
            }
        }
    }

    @Test func ordersDependOnSeedAndEpochOnly() {
        let table = syntheticTable(components: [47])
        func order(_ seed: UInt64, _ epoch: Int) -> [UInt32] {
            EpochPlan(table: table, config: SamplerConfig(seed: seed), epoch: epoch).order
        }
        #expect(order(5, 0) == order(5, 0))
        #expect(order(5, 1) == order(5, 1))
        #expect(order(5, 0) != order(5, 1))
        #expect(order(5, 1) != order(5, 2))
        #expect(order(5, 0) != order(6, 0))
        #expect(order(0, 0) != order(1, 0))
        // A shuffle, not the identity or a rotation of it.
        #expect(order(5, 0) != (0..<47).map(UInt32.init))
        // Distinct (seed, epoch) pairs give many distinct orders.
        let all = Set((0..<5).flatMap { seed in (0..<5).map { order(UInt64(seed), $0) } })
        #expect(all.count == 25)
    }

    @Test func invalidRankIsRejected() throws {
        #expect(throws: LoaderError.self) { try SamplerConfig(seed: 0, rank: 2, world: 2).validate() }
        #expect(throws: LoaderError.self) { try SamplerConfig(seed: 0, rank: -1, world: 2).validate() }
        #expect(throws: LoaderError.self) { try SamplerConfig(seed: 0, rank: 0, world: 0).validate() }
        try SamplerConfig(seed: 0, rank: 3, world: 4).validate()
    }

    // MARK: Mixtures

    @Test func mixtureUsesLargestRemainderCounts() {
        let table = syntheticTable(components: [47, 13], weights: [3, 1])
        func counts(_ length: Int?) -> (Int, Int) {
            let order = EpochPlan(table: table, config: SamplerConfig(seed: 3, epochLength: length), epoch: 0).order
            let first = order.filter { $0 < 47 }.count
            return (first, order.count - first)
        }
        #expect(counts(nil) == (45, 15))  // 60 * 3/4, 60 * 1/4
        #expect(counts(61) == (46, 15))   // 45.75 + 15.25: the larger remainder gets the extra one
        #expect(counts(63) == (47, 16))   // 47.25 + 15.75
        #expect(counts(100) == (75, 25))
        #expect(counts(1) == (1, 0))      // 0.75 + 0.25

        let three = syntheticTable(components: [10, 10, 10], weights: [1, 1, 1])
        let order = EpochPlan(table: three, config: SamplerConfig(seed: 1, epochLength: 11), epoch: 0).order
        #expect(order.count == 11)
        let perComponent = (0..<3).map { c in order.filter { Int($0) / 10 == c }.count }
        #expect(perComponent.sorted() == [3, 4, 4])
    }

    @Test func mixtureDrawsEachComponentWithoutReplacementUntilExhausted() {
        let table = syntheticTable(components: [47, 13], weights: [3, 1])
        let order = EpochPlan(table: table, config: SamplerConfig(seed: 8), epoch: 0).order
        let train = order.filter { $0 < 47 }, val = order.filter { $0 >= 47 }
        #expect(Set(train).count == train.count)  // 45 of 47, none twice
        #expect(Set(val) == Set((47..<60).map(UInt32.init)))  // all 13, then 2 more from a fresh permutation
        #expect(val.count == 15)
        // Shuffled together, not concatenated.
        #expect(order.prefix(45).contains { $0 >= 47 })

        let long = EpochPlan(table: table, config: SamplerConfig(seed: 8, epochLength: 200), epoch: 0).order
        var seen: [UInt32: Int] = [:]
        for sample in long { seen[sample, default: 0] += 1 }
        #expect(seen.count == 60)  // 150 train draws cover all 47, 50 val draws cover all 13
        let trainCounts = (0..<47).map { seen[UInt32($0)]! }
        #expect(trainCounts.min()! >= 3 && trainCounts.max()! <= 4)  // 150 = 3 * 47 + 9
    }

    @Test func mixtureRanksSplitTheSameEpoch() {
        let table = syntheticTable(components: [47, 13], weights: [3, 1])
        let full = EpochPlan(table: table, config: SamplerConfig(seed: 2, remainder: .drop), epoch: 4).order
        let ranks = (0..<4).map {
            EpochPlan(table: table, config: SamplerConfig(seed: 2, rank: $0, world: 4, remainder: .drop), epoch: 4).order
        }
        #expect(ranks.allSatisfy { $0.count == 15 })
        var multiset: [UInt32: Int] = [:], expected: [UInt32: Int] = [:]
        for sample in ranks.flatMap({ $0 }) { multiset[sample, default: 0] += 1 }
        for sample in full { expected[sample, default: 0] += 1 }
        #expect(multiset == expected)
    }

    // MARK: Resume tokens

    @Test func resumeTokenRoundTrips() throws {
        let tokens = [
            ResumeToken(seed: 0, epoch: 0, position: 0, rank: 0, world: 1),
            ResumeToken(seed: UInt64.max, epoch: 12, position: 9_999_999, rank: 3, world: 4),
            ResumeToken(seed: 42, epoch: 1, position: 17, rank: 1, world: 2),
        ]
        for token in tokens {
            let text = token.description
            #expect(text.hasPrefix("loom1."))
            #expect(try ResumeToken(parsing: text) == token)
        }
        #expect(ResumeToken(seed: 42, epoch: 1, position: 17, rank: 1, world: 2).description == "loom1.42.1.17.1.2")
        #expect(try ResumeToken(parsing: "loom1.7.3.120.0.1") == ResumeToken(seed: 7, epoch: 3, position: 120, rank: 0, world: 1))
    }

    @Test(arguments: [
        "", "loom1", "loom1.1.0.0.0", "loom1.1.0.0.0.1.9", "loom2.1.0.0.0.1", "LOOM1.1.0.0.0.1",
        "loom1.x.0.0.0.1", "loom1.-1.0.0.0.1", "loom1.1.-1.0.0.1", "loom1.1.0.-5.0.1", "loom1.1.0.0.-1.2",
        "loom1.1.0.0.2.2", "loom1.1.0.0.0.0", "loom1.1.0.1.5.0", "loom1.1.0.3.0.1 ", " loom1.1.0.3.0.1",
        "loom1.1.0.3.0.1\n", "loom1.1.0.3.0.1.", ".loom1.1.0.3.0.1", "loom1..1.0.3.0.1", "loom1.1..0.3.0.1",
        "loom1.1.0.3.0.1.2.3", "loom1.1.0.3.0.1e0", "loom1.18446744073709551616.0.0.0.1",
    ])
    func malformedResumeTokensAreRejected(text: String) {
        let error = #expect(throws: LoaderError.self) { try ResumeToken(parsing: text) }
        #expect(error?.message.contains("resume token") == true)
    }
}
