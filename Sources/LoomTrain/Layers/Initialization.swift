import Foundation
import LoomLoader

/// Weight initialisation as torchvision's ResNet does it, drawn from one seeded stream so that the
/// same seed gives bit-identical weights on every machine.
enum Initialization {
    /// `kaiming_normal_(mode="fan_out", nonlinearity="relu")`: N(0, 2 / fan_out), fan_out = Cout * k * k.
    static func kaimingNormalFanOut(count: Int, fanOut: Int, rng: inout SplitMix64) -> [Float] {
        normal(count: count, std: (2.0 / Double(fanOut)).squareRoot(), rng: &rng)
    }

    /// nn.Linear's default (`kaiming_uniform_(a=sqrt(5))` and the matching bias): U(-1/sqrt(fan_in), 1/sqrt(fan_in)).
    static func linearDefault(count: Int, fanIn: Int, rng: inout SplitMix64) -> [Float] {
        let bound = 1 / Double(fanIn).squareRoot()
        return (0..<count).map { _ in Float((rng.unit() * 2 - 1) * bound) }
    }

    /// Gaussian samples by Box-Muller, in pairs.
    static func normal(count: Int, std: Double, rng: inout SplitMix64) -> [Float] {
        var values = [Float](repeating: 0, count: count)
        var i = 0
        while i < count {
            let u1 = 1 - rng.unit()  // (0, 1]: log stays finite
            let u2 = rng.unit()
            let radius = (-2 * log(u1)).squareRoot() * std
            values[i] = Float(radius * cos(2 * Double.pi * u2))
            if i + 1 < count { values[i + 1] = Float(radius * sin(2 * Double.pi * u2)) }
            i += 2
        }
        return values
    }
}
