import Foundation
import LoomImage
@testable import LoomLoader
import LoomStore
import LoomTestSupport
import Testing

/// The streaming loader over a real ingested store: order, worker independence, resume,
/// augmentation output, evaluation determinism.
@Suite struct LoaderTests {
    static let train32 = TransformSpec(size: 32, augment: .train)
    static let eval32 = TransformSpec(size: 32, augment: .eval)

    // MARK: Order and worker independence

    @Test func deliversTheSamplersOrderRegardlessOfWorkerCount() throws {
        let fixture = try LoaderFixture()
        let table = try fixture.table()
        #expect(table.count == FixtureDataset.trainCount)
        let config = SamplerConfig(seed: 31)
        let plan = EpochPlan(table: table, config: config, epoch: 0)
        let one = try drain(fixture.loader(table: table, spec: Self.train32, config: config, batch: 6, workers: 1))
        let three = try drain(fixture.loader(table: table, spec: Self.train32, config: config, batch: 6, workers: 3))
        let tight = try drain(fixture.loader(table: table, spec: Self.train32, config: config, batch: 6, workers: 4, prefetch: 2))
        #expect(one.count == 8)  // 7 full batches of 6, then 5
        #expect(one.map(\.samples.count) == [6, 6, 6, 6, 6, 6, 6, 5])
        #expect(one.map(\.index) == Array(0..<8))
        #expect(one.map(\.endPosition) == [6, 12, 18, 24, 30, 36, 42, 47])
        #expect(one.flatMap(\.samples) == plan.order)
        #expect(three.count == one.count && tight.count == one.count)
        for (i, batch) in one.enumerated() {
            #expect(three[i].samples == batch.samples, "batch \(i)")
            #expect(three[i].labels == batch.labels, "batch \(i)")
            expectSameBytes(three[i].pixels, batch.pixels, "batch \(i): pixels differ between 1 and 3 workers")
            expectSameBatches([tight[i]], [batch], "batch \(i): 4 workers, prefetch 2")
        }
    }

    @Test func ranksDeliverDisjointCoversThroughTheLoader() throws {
        let fixture = try LoaderFixture()
        let table = try fixture.table()
        let n = table.count
        for world in 2...4 {
            for remainder in RankRemainder.allCases {
                var all: [UInt32] = []
                var counts: [Int] = []
                for rank in 0..<world {
                    let config = SamplerConfig(seed: 5, rank: rank, world: world, remainder: remainder)
                    let batches = try drain(fixture.loader(table: table, spec: TransformSpec(size: 8, augment: .eval), config: config,
                                                           batch: 7, workers: 2))
                    let samples = batches.flatMap(\.samples)
                    for batch in batches {
                        #expect(batch.labels == batch.samples.map { table.labels[Int($0)] })
                    }
                    counts.append(samples.count)
                    all += samples
                }
                #expect(Set(counts).count == 1, "world \(world) \(remainder): ranks got \(counts)")
                switch remainder {
                case .drop:
                    #expect(counts[0] == n / world)
                    #expect(all.count == n - n % world && Set(all).count == all.count, "world \(world): overlap")
                case .pad:
                    #expect(counts[0] == (n + world - 1) / world)
                    #expect(Set(all) == Set((0..<n).map(UInt32.init)), "world \(world): not covered")
                }
            }
        }
    }

    @Test func epochsAndSeedsChangeOrderAndCrops() throws {
        let fixture = try LoaderFixture()
        let table = try fixture.table()
        func run(seed: UInt64, epoch: Int) throws -> [DeliveredBatch] {
            try drain(fixture.loader(table: table, spec: Self.train32, config: SamplerConfig(seed: seed), epoch: epoch,
                                     batch: 16, workers: 2))
        }
        let e0 = try run(seed: 1, epoch: 0), e0again = try run(seed: 1, epoch: 0)
        let e1 = try run(seed: 1, epoch: 1), other = try run(seed: 2, epoch: 0)
        expectSameBatches(e0again, e0, "same seed and epoch")
        #expect(e0.flatMap(\.samples) != e1.flatMap(\.samples))
        #expect(e0.flatMap(\.samples) != other.flatMap(\.samples))
        // Crops are keyed by (seed, epoch, sample): the same sample gets another crop next epoch.
        let bytes = Self.train32.sampleBytes
        let crops0 = Dictionary(uniqueKeysWithValues: perSample(e0, sampleBytes: bytes).map { ($0.sample, $0.pixels) })
        let crops1 = Dictionary(uniqueKeysWithValues: perSample(e1, sampleBytes: bytes).map { ($0.sample, $0.pixels) })
        let same = crops0.keys.filter { crops0[$0] == crops1[$0] }.count
        #expect(same < 3, "\(same) of \(crops0.count) samples got the same crop in epochs 0 and 1")
    }

    @Test func dropLastKeepsOnlyFullBatches() throws {
        let fixture = try LoaderFixture()
        let table = try fixture.table()
        let loader = try fixture.loader(table: table, spec: Self.eval32, config: SamplerConfig(seed: 3), batch: 10, workers: 2,
                                        dropLast: true)
        #expect(loader.endPosition == 40 && loader.batchCount == 4)
        let batches = try drain(loader)
        #expect(batches.map(\.samples.count) == [10, 10, 10, 10])
        #expect(try loader.next() == nil)
        #expect(loader.resumeToken.position == 40)
    }

    @Test func abandoningALoaderMidEpochStopsItsWorkers() throws {
        let fixture = try LoaderFixture()
        let table = try fixture.table()
        for workers in [1, 4] {
            let loader = try fixture.loader(table: table, spec: Self.train32, config: SamplerConfig(seed: 3), batch: 4,
                                            workers: workers, prefetch: 2)
            _ = try loader.next()
            loader.cancel()
            loader.cancel()  // idempotent
        }
        // Dropped without an explicit cancel, holding a batch, its workers blocked on a full ring:
        // the worker threads must not keep it alive (its deinit stops them).
        weak var dropped: Loader?
        do {
            let loader = try fixture.loader(table: table, spec: Self.train32, config: SamplerConfig(seed: 3), batch: 4, workers: 3,
                                            prefetch: 2)
            dropped = loader
            #expect(try loader.next()?.count == 4)
        }
        #expect(dropped == nil, "a loader dropped mid-epoch is never freed: its threads hold it")
    }

    // MARK: Resume

    @Test(arguments: [0, 1, 4, 9, 10])
    func resumeContinuesExactlyWhereTheStreamStopped(afterBatches k: Int) throws {
        let fixture = try LoaderFixture()
        let table = try fixture.table()
        let config = SamplerConfig(seed: 77)
        let full = try drain(fixture.loader(table: table, spec: Self.train32, config: config, epoch: 2, batch: 5, workers: 3))
        #expect(full.count == 10)

        let first = try fixture.loader(table: table, spec: Self.train32, config: config, epoch: 2, batch: 5, workers: 3)
        let head = try drain(first, limit: k)
        expectSameBatches(head, Array(full.prefix(k)), "before the interruption")
        let text = first.resumeToken.description
        first.cancel()
        let token = try ResumeToken(parsing: text)
        #expect(token == ResumeToken(seed: 77, epoch: 2, position: min(k * 5, 47), rank: 0, world: 1,
                                     fingerprint: table.orderFingerprint(config)))

        var resumedConfig = config
        resumedConfig.seed = token.seed
        resumedConfig.rank = token.rank
        resumedConfig.world = token.world
        let resumed = try fixture.loader(table: table, spec: Self.train32, config: resumedConfig, epoch: token.epoch, batch: 5,
                                         workers: 2, startPosition: token.position)
        #expect(resumed.batchCount == 10 - k)
        let tail = try drain(resumed)
        expectSameBatches(tail, Array(full.dropFirst(k)), "resumed after \(k) batches")
        #expect(resumed.resumeToken.position == 47)
    }

    @Test func resumeOnRankOneOfTwo() throws {
        let fixture = try LoaderFixture()
        let table = try fixture.table()
        let config = SamplerConfig(seed: 12, rank: 1, world: 2, remainder: .pad)
        let full = try drain(fixture.loader(table: table, spec: Self.train32, config: config, epoch: 1, batch: 4, workers: 2))
        #expect(full.flatMap(\.samples).count == 24)
        #expect(full.flatMap(\.samples) == EpochPlan(table: table, config: config, epoch: 1).order)

        let first = try fixture.loader(table: table, spec: Self.train32, config: config, epoch: 1, batch: 4, workers: 3)
        _ = try drain(first, limit: 3)
        let token = try ResumeToken(parsing: first.resumeToken.description)
        first.cancel()
        #expect(token.rank == 1 && token.world == 2 && token.position == 12 && token.epoch == 1 && token.seed == 12)
        let resumed = try fixture.loader(
            table: table, spec: Self.train32,
            config: SamplerConfig(seed: token.seed, rank: token.rank, world: token.world, remainder: .pad),
            epoch: token.epoch, batch: 4, workers: 1, startPosition: token.position)
        let tail = try drain(resumed)
        expectSameBatches(tail, Array(full.dropFirst(3)), "rank 1 of 2 resumed after 3 batches")
    }

    @Test func resumeAtAnUnalignedPositionGivesTheSameSamplesAndCrops() throws {
        let fixture = try LoaderFixture()
        let table = try fixture.table()
        let config = SamplerConfig(seed: 4)
        let bytes = Self.train32.sampleBytes
        let full = perSample(try drain(fixture.loader(table: table, spec: Self.train32, config: config, batch: 5, workers: 2)),
                             sampleBytes: bytes)
        let resumed = try fixture.loader(table: table, spec: Self.train32, config: config, batch: 5, workers: 2, startPosition: 7)
        let batches = try drain(resumed)
        #expect(batches.map(\.samples.count) == [5, 5, 5, 5, 5, 5, 5, 5])
        #expect(batches.last?.endPosition == 47)
        let tail = perSample(batches, sampleBytes: bytes)
        #expect(tail.count == 40)
        for (i, entry) in tail.enumerated() {
            #expect(entry.sample == full[7 + i].sample, "position \(7 + i)")
            expectSameBytes(entry.pixels, full[7 + i].pixels, "position \(7 + i)")
        }
    }

    @Test func resumePositionOutsideTheEpochIsRejected() throws {
        let fixture = try LoaderFixture()
        let table = try fixture.table()
        #expect(throws: LoaderError.self) {
            try fixture.loader(table: table, spec: Self.eval32, config: SamplerConfig(seed: 1), batch: 4, workers: 1, startPosition: 48)
        }
        #expect(throws: LoaderError.self) {
            try fixture.loader(table: table, spec: Self.eval32, config: SamplerConfig(seed: 1), batch: 4, workers: 1, startPosition: -1)
        }
        let atEnd = try fixture.loader(table: table, spec: Self.eval32, config: SamplerConfig(seed: 1), batch: 4, workers: 1,
                                       startPosition: 47)
        #expect(atEnd.batchCount == 0)
        #expect(try atEnd.next() == nil)
    }

    // MARK: Augmentation output

    @Test(arguments: [32, 64])
    func trainBatchesHaveRealPixelsAndMatchingLabels(size: Int) throws {
        let fixture = try LoaderFixture()
        let table = try fixture.table()
        let spec = TransformSpec(size: size, augment: .train)
        let batches = try drain(fixture.loader(table: table, spec: spec, config: SamplerConfig(seed: 9), batch: 8, workers: 3))
        #expect(batches.map(\.samples.count) == [8, 8, 8, 8, 8, 7])
        var grays = 0, cmyk = 0
        for batch in batches {
            #expect(batch.pixels.count == batch.samples.count * size * size * 3)
            #expect(batch.labels == batch.samples.map { table.labels[Int($0)] })
            for (i, sample) in batch.samples.enumerated() {
                let pixels = batch.samplePixels(i, sampleBytes: spec.sampleBytes)
                #expect(Set(pixels).count > 16, "sample \(sample) has \(Set(pixels).count) distinct byte values")
                let file = try #require(fixture.fileByDigest[table.locations[Int(sample)].digest])
                #expect(table.classNames[Int(batch.labels[i])] == file.wnid)
                let channelsEqual = isGray(pixels)
                switch file.kind {
                case .gray:
                    #expect(channelsEqual, "a grayscale JPEG renders with R == G == B")
                    grays += 1
                case .cmyk:
                    #expect(!channelsEqual, "a CMYK JPEG renders in colour")
                    cmyk += 1
                default:
                    #expect(!channelsEqual)
                }
            }
        }
        #expect(grays == 2 && cmyk == 1)
    }

    @Test func flipMirrorsSomeSamplesAndNotOthers() throws {
        let fixture = try LoaderFixture()
        let table = try fixture.table()
        func crops(flip: Double) throws -> [UInt32: ArraySlice<UInt8>] {
            var spec = Self.train32
            spec.flipProbability = flip
            let batches = try drain(fixture.loader(table: table, spec: spec, config: SamplerConfig(seed: 21), batch: 8, workers: 2))
            return Dictionary(uniqueKeysWithValues: perSample(batches, sampleBytes: spec.sampleBytes).map { ($0.sample, $0.pixels) })
        }
        let never = try crops(flip: 0), always = try crops(flip: 1), half = try crops(flip: 0.5)
        var flipped = 0, straight = 0
        for sample in never.keys.sorted() {
            let plain = Array(never[sample]!), mirror = Array(always[sample]!), mixed = Array(half[sample]!)
            expectSameBytes(mirror, ResamplerTests.mirrored(plain, width: 32, height: 32), "sample \(sample): flip 1 vs mirrored flip 0")
            expectDifferentBytes(plain, mirror, "sample \(sample) is left-right symmetric")
            if mixed == plain { straight += 1 } else if mixed == mirror { flipped += 1 } else {
                Issue.record("sample \(sample): the p=0.5 crop is neither the plain nor the mirrored crop")
            }
        }
        #expect(flipped + straight == table.count)
        #expect(flipped >= 8 && straight >= 8, "\(flipped) flipped, \(straight) not")
    }

    @Test func rendererFlipIsAnExactMirrorForEveryFormat() throws {
        var noFlip = Self.train32, alwaysFlip = Self.train32
        noFlip.flipProbability = 0
        alwaysFlip.flipProbability = 1
        let plain = try SampleRenderer(spec: noFlip), mirror = try SampleRenderer(spec: alwaysFlip)
        let files = [FixtureImages.jpeg(width: 150, height: 100, seed: 3), FixtureImages.grayJPEG(width: 96, height: 72, seed: 4),
                     FixtureImages.cmykJPEG(width: 100, height: 80, seed: 5), FixtureImages.png(width: 90, height: 120, seed: 6)]
        for (index, file) in files.enumerated() {
            for seed: UInt64 in 0..<8 {
                var a = [UInt8](repeating: 0, count: noFlip.sampleBytes), b = a, again = a
                var rngA = SplitMix64(seed: seed), rngB = SplitMix64(seed: seed), rngC = SplitMix64(seed: seed)
                try file.withUnsafeBytes { bytes in
                    try a.withUnsafeMutableBufferPointer { try plain.render(encoded: bytes, rng: &rngA, into: $0.baseAddress!) }
                    try b.withUnsafeMutableBufferPointer { try mirror.render(encoded: bytes, rng: &rngB, into: $0.baseAddress!) }
                    try again.withUnsafeMutableBufferPointer { try plain.render(encoded: bytes, rng: &rngC, into: $0.baseAddress!) }
                }
                expectSameBytes(again, a, "file \(index) seed \(seed): not deterministic")
                expectSameBytes(b, ResamplerTests.mirrored(a, width: 32, height: 32), "file \(index) seed \(seed): flip vs mirror")
                expectDifferentBytes(a, b, "file \(index) seed \(seed)")
                #expect(Set(a).count > 16)
            }
        }
    }

    @Test func rendererRejectsWhatItCannotDecode() throws {
        let renderer = try SampleRenderer(spec: Self.eval32)
        var out = [UInt8](repeating: 0, count: Self.eval32.sampleBytes)
        for bad in [FixtureImages.textFile, FixtureImages.truncatedJPEG(), FixtureImages.gifFile, []] {
            var rng = SplitMix64(seed: 0)
            #expect(throws: (any Error).self) {
                try bad.withUnsafeBytes { bytes in
                    try out.withUnsafeMutableBufferPointer { try renderer.render(encoded: bytes, rng: &rng, into: $0.baseAddress!) }
                }
            }
        }
    }

    // MARK: Evaluation

    @Test func evalPixelsDependOnNothingButTheSample() throws {
        let fixture = try LoaderFixture()
        let table = try fixture.table()
        let bytes = Self.eval32.sampleBytes
        let a = perSample(try drain(fixture.loader(table: table, spec: Self.eval32, config: SamplerConfig(seed: 1), batch: 5,
                                                   workers: 1)), sampleBytes: bytes)
        let b = perSample(try drain(fixture.loader(table: table, spec: Self.eval32, config: SamplerConfig(seed: 999), epoch: 3,
                                                   batch: 8, workers: 3)), sampleBytes: bytes)
        #expect(a.map(\.sample) != b.map(\.sample))
        let byA = Dictionary(uniqueKeysWithValues: a.map { ($0.sample, $0.pixels) })
        let byB = Dictionary(uniqueKeysWithValues: b.map { ($0.sample, $0.pixels) })
        #expect(byA.count == table.count && byB.count == table.count)
        for sample in byA.keys.sorted() {
            expectSameBytes(byB[sample]!, byA[sample]!, "sample \(sample): eval pixels differ between runs")
        }
        // The same as rendering the stored bytes directly, whatever generator is passed.
        let renderer = try SampleRenderer(spec: Self.eval32)
        for sample in byA.keys.sorted() {
            let encoded = try fixture.store.blobs.read(table.locations[Int(sample)])
            var out = [UInt8](repeating: 0, count: bytes)
            var rng = SplitMix64(seed: UInt64(sample) &* 7919)
            try encoded.withUnsafeBytes { raw in
                try out.withUnsafeMutableBufferPointer { try renderer.render(encoded: raw, rng: &rng, into: $0.baseAddress!) }
            }
            expectSameBytes(out, byA[sample]!, "sample \(sample): loader vs direct render")
        }
    }

    @Test func evalIsACentreCropOfTheResizedImage() throws {
        // A PNG (lossless) rendered in eval mode equals the window of the whole resized image.
        let width = 102, height = 50
        let png = FixtureImages.png(width: width, height: height, seed: 12)
        var rgb = [UInt8](repeating: 0, count: width * height * 3)
        _ = try png.withUnsafeBytes { bytes in try rgb.withUnsafeMutableBytes { try PNGCodec.decodeRGB(bytes, into: $0) } }
        let resized = ResamplerTests.render(source: rgb, width: width, height: height,
                                            region: ResampleRegion(x: 0, y: 0, width: Double(width), height: Double(height)),
                                            virtual: (73, 36), window: (0, 0, 73, 36))
        let expected = ResamplerTests.cut(resized, width: 73, x0: 20, y0: 2, w: 32, h: 32)
        let renderer = try SampleRenderer(spec: Self.eval32)
        var out = [UInt8](repeating: 0, count: Self.eval32.sampleBytes)
        var rng = SplitMix64(seed: 1)
        try png.withUnsafeBytes { bytes in
            try out.withUnsafeMutableBufferPointer { try renderer.render(encoded: bytes, rng: &rng, into: $0.baseAddress!) }
        }
        expectSameBytes(out, expected, "eval render vs window of the resized image")
        let cache = try png.withUnsafeBytes { try renderer.renderCacheImage(encoded: $0) }
        #expect(cache.width == 73 && cache.height == 36)
        expectSameBytes(cache.pixels, resized, "cache image vs resized image")
    }
}

/// Whether every RGB pixel has R == G == B.
func isGray(_ pixels: ArraySlice<UInt8>) -> Bool {
    var i = pixels.startIndex
    while i < pixels.endIndex {
        let r: UInt8 = pixels[i], g: UInt8 = pixels[i + 1], b: UInt8 = pixels[i + 2]
        if r != g || r != b { return false }
        i += 3
    }
    return true
}
