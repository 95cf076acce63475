import Foundation
@testable import LoomLoader
import Testing

/// The crop geometry: torchvision's RandomResizedCrop parameters and the eval Resize + CenterCrop.
@Suite struct CropPlanTests {
    static let trainSpec = TransformSpec(size: 32, augment: .train)

    static func draws(width: Int, height: Int, seed: UInt64, count: Int, spec: TransformSpec = trainSpec) -> [CropPlan] {
        var rng = SplitMix64(seed: seed)
        return (0..<count).map { _ in CropPlan.randomResizedCrop(width: width, height: height, spec: spec, rng: &rng) }
    }

    @Test func randomResizedCropStaysInsideWithTorchvisionBounds() {
        let width = 500, height = 375
        let plans = Self.draws(width: width, height: height, seed: 2024, count: 2000)
        var fallbacks = 0, small = 0, large = 0, flips = 0, tall = 0, wide = 0
        var xs = Set<Int>(), ys = Set<Int>()
        for plan in plans {
            let (x, y, w, h) = plan.region
            #expect(x == x.rounded() && y == y.rounded() && w == w.rounded() && h == h.rounded(), "integer crop boxes")
            #expect(x >= 0 && y >= 0 && w >= 1 && h >= 1)
            #expect(x + w <= Double(width) && y + h <= Double(height), "crop \(plan.region) leaves the image")
            #expect(plan.virtualWidth == 32 && plan.virtualHeight == 32 && plan.windowX == 0 && plan.windowY == 0)
            if plan.flip { flips += 1 }
            let isFallback = w == Double(width) && h == Double(height) && x == 0 && y == 0
            if isFallback { fallbacks += 1; continue }
            let fraction = w * h / Double(width * height)
            // w and h are rounded to whole pixels: allow that much slack on area and aspect.
            let areaSlack = (w + h + 1) / 2 / Double(width * height) * 2
            #expect(fraction >= 0.08 - areaSlack && fraction <= 1 + areaSlack, "area fraction \(fraction) for \(plan.region)")
            let aspect = w / h
            let aspectSlack = 0.5 / h * (4.0 / 3.0) + 0.5 / h
            #expect(aspect >= 0.75 - aspectSlack && aspect <= 4.0 / 3.0 + aspectSlack, "aspect \(aspect) for \(plan.region)")
            if fraction < 0.2 { small += 1 }
            if fraction > 0.8 { large += 1 }
            if aspect < 0.85 { tall += 1 }
            if aspect > 1.2 { wide += 1 }
            xs.insert(Int(x))
            ys.insert(Int(y))
        }
        // The draws spread over the ranges (uniform area in [0.08, 1], log-uniform aspect).
        #expect(small > 150 && large > 60, "small \(small) large \(large)")
        #expect(tall > 200 && wide > 200, "tall \(tall) wide \(wide)")
        #expect(xs.count > 100 && ys.count > 100)
        #expect(fallbacks < 20)
        #expect(flips > 850 && flips < 1150, "\(flips) flips of 2000")
    }

    @Test func randomResizedCropIsDeterministicPerSeed() {
        let a = Self.draws(width: 500, height: 375, seed: 7, count: 200)
        let b = Self.draws(width: 500, height: 375, seed: 7, count: 200)
        let c = Self.draws(width: 500, height: 375, seed: 8, count: 200)
        #expect(a == b)
        #expect(a != c)
        #expect(Set(a.map { "\($0.region)" }).count > 190)
    }

    @Test func randomResizedCropFallsBackToARatioClampedCentreCrop() {
        // 20:1: a crop of aspect <= 4/3 and area >= 8% (4000 px) is at least 55 px tall, more than
        // the image's 50, so all ten tries fail.
        for plan in Self.draws(width: 1000, height: 50, seed: 3, count: 50) {
            #expect(plan.region.width == 67 && plan.region.height == 50, "\(plan.region)")  // round(50 * 4/3)
            #expect(plan.region.x == 466 && plan.region.y == 0)  // (1000 - 67) / 2
        }
        for plan in Self.draws(width: 50, height: 1000, seed: 3, count: 50) {
            #expect(plan.region.width == 50 && plan.region.height == 67, "\(plan.region)")  // round(50 / (3/4))
            #expect(plan.region.x == 0 && plan.region.y == 466)
        }
        // Flip is still drawn in the fallback.
        let flips = Self.draws(width: 1000, height: 50, seed: 3, count: 200).filter(\.flip).count
        #expect(flips > 60 && flips < 140)
    }

    @Test func flipProbabilityOnlyChangesTheFlip() {
        var noFlip = Self.trainSpec, alwaysFlip = Self.trainSpec
        noFlip.flipProbability = 0
        alwaysFlip.flipProbability = 1
        let a = Self.draws(width: 300, height: 200, seed: 11, count: 300, spec: noFlip)
        let b = Self.draws(width: 300, height: 200, seed: 11, count: 300, spec: alwaysFlip)
        #expect(a.allSatisfy { !$0.flip })
        #expect(b.allSatisfy { $0.flip })
        #expect(zip(a, b).allSatisfy { $0.region == $1.region })
    }

    // MARK: Evaluation

    @Test func evalResizeIsSizeOverCropFraction() {
        #expect(TransformSpec(size: 224, augment: .eval).evalResize == 256)
        #expect(TransformSpec(size: 32, augment: .eval).evalResize == 36)  // int(32 / 0.875) = int(36.57)
        #expect(TransformSpec(size: 64, augment: .eval).evalResize == 73)  // int(73.14)
        #expect(TransformSpec(size: 32, augment: .eval).sampleBytes == 32 * 32 * 3)
    }

    @Test(arguments: [
        // (width, height, virtual width, virtual height, window x, window y), as torchvision computes them:
        // long side int(36 * long / short); offsets int(round((V - 32) / 2)) with Python's half-to-even round.
        (100, 50, 72, 36, 20, 2),
        (102, 50, 73, 36, 20, 2),    // (73 - 32) / 2 = 20.5 -> 20
        (105, 50, 75, 36, 22, 2),    // (75 - 32) / 2 = 21.5 -> 22
        (50, 102, 36, 73, 2, 20),
        (50, 105, 36, 75, 2, 22),
        (64, 64, 36, 36, 2, 2),
        (500, 375, 48, 36, 8, 2),
        (37, 29, 45, 36, 6, 2),      // int(36 * 37 / 29) = int(45.93) = 45: (45 - 32) / 2 = 6.5 -> 6
        (30, 20, 54, 36, 11, 2),     // upscaling too
    ])
    func evaluationPlanMatchesTorchvision(_ c: (Int, Int, Int, Int, Int, Int)) {
        let plan = CropPlan.evaluation(width: c.0, height: c.1, size: 32, resize: 36)
        #expect(plan.virtualWidth == c.2 && plan.virtualHeight == c.3, "\(c.0)x\(c.1)")
        #expect(plan.windowX == c.4 && plan.windowY == c.5, "\(c.0)x\(c.1)")
        #expect(plan.region == (0, 0, Double(c.0), Double(c.1)))
        #expect(!plan.flip)
    }
}
