import Foundation

/// Linear warm-up to the base rate, then a cosine decay to `minRate` at `totalSteps`.
///
/// Step `s < warmupSteps` runs at `baseRate * (s + 1) / warmupSteps` (never exactly 0, so the
/// first step moves); from `warmupSteps` on, `minRate + (baseRate - minRate) * (1 + cos(pi * t)) / 2`
/// with `t = (s - warmupSteps) / (totalSteps - warmupSteps)` clamped to [0, 1].
public struct LearningRateSchedule: Sendable, Hashable, Codable {
    public var baseRate: Float
    public var warmupSteps: Int
    public var totalSteps: Int
    public var minRate: Float

    public init(baseRate: Float, warmupSteps: Int, totalSteps: Int, minRate: Float = 0) {
        self.baseRate = baseRate
        self.warmupSteps = max(0, warmupSteps)
        self.totalSteps = totalSteps
        self.minRate = minRate
    }

    public func rate(atStep step: Int) -> Float {
        if step < warmupSteps { return baseRate * Float(max(step, 0) + 1) / Float(warmupSteps) }
        let span = totalSteps - warmupSteps
        guard span > 0 else { return minRate }
        let t = min(1, Double(step - warmupSteps) / Double(span))
        return minRate + (baseRate - minRate) * Float((1 + cos(Double.pi * t)) / 2)
    }
}
