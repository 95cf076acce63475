import Foundation
@testable import LoomTrain
import LoomLoader

/// Central finite differences against a layer's analytic backward pass.
///
/// The loss is `L = Σ r ⊙ layer(x)` for fixed random `r`, accumulated in Double, so
/// d(L)/d(output) = r. Each sampled coordinate (of the input, and of every parameter) is nudged
/// by ±eps and `(L+ - L-) / 2eps` compared with the analytic gradient.
struct GradientCheck {
    struct Mismatch: CustomStringConvertible {
        var coordinate: String
        var analytic: Double
        var numeric: Double
        var description: String { "\(coordinate): analytic \(analytic), numeric \(numeric)" }
    }

    struct Report {
        var checked = 0
        /// Coordinates skipped because a ReLU kink lies within eps (the two step sizes disagree).
        var kinks = 0
        var mismatches: [Mismatch] = []
        /// Largest |a - n| / max(|a|, |n|, floor) over all coordinates.
        var worstRelative = 0.0
    }

    var epsilon: Float = 1e-2
    var relativeTolerance = 1e-2
    var absoluteTolerance = 2e-3
    /// Coordinates sampled per tensor (all when the tensor is smaller).
    var samples = 40
    var seed: UInt64 = 1
    /// For layers with ReLUs: also difference with eps/2, and skip coordinates where the two
    /// estimates disagree (a kink within eps makes them differ; a smooth function does not).
    var kinkAware = false

    func run(_ layer: any Layer, input shape: ActivationShape, checkInput: Bool = true,
             makeInput: ((inout SplitMix64) -> Float)? = nil) -> Report {
        var rng = SplitMix64(seed: seed)
        let x = UnsafeMutableBufferPointer<Float>.allocate(capacity: shape.count)
        defer { x.deallocate() }
        for i in 0..<shape.count { x[i] = makeInput?(&rng) ?? Float(Random.normal(&rng)) }
        let input = Activation(pointer: x.baseAddress!, shape: shape)

        let first = layer.forward(input, training: true)
        let r = (0..<first.shape.count).map { _ in Float(Random.normal(&rng)) }
        func loss() -> Double {
            let y = layer.forward(input, training: true)
            var total = 0.0
            for i in 0..<y.shape.count { total += Double(r[i]) * Double(y.pointer[i]) }
            return total
        }
        _ = loss()
        let gradInput = r.withUnsafeBufferPointer { layer.backward($0.baseAddress!) }
        let analyticInput = gradInput.map { Array(UnsafeBufferPointer(start: $0, count: shape.count)) }
        let analyticParameters = layer.parameters.map(\.grad)

        var report = Report()
        func centralDifference(_ eps: Float, _ nudge: (Float) -> Void) -> Double {
            nudge(eps)
            let plus = loss()
            nudge(-2 * eps)
            let minus = loss()
            nudge(eps)
            return (plus - minus) / (2 * Double(eps))
        }
        func compare(_ name: String, analytic: Float, nudge: (Float) -> Void) {
            let numeric = centralDifference(epsilon, nudge)
            let a = Double(analytic)
            if kinkAware {
                let half = centralDifference(epsilon / 2, nudge)
                if abs(half - numeric) > absoluteTolerance + relativeTolerance / 2 * max(abs(half), abs(numeric)) {
                    report.kinks += 1
                    return
                }
            }
            let difference = abs(a - numeric)
            report.checked += 1
            report.worstRelative = max(report.worstRelative, difference / max(abs(a), abs(numeric), 1e-3))
            if difference > absoluteTolerance + relativeTolerance * max(abs(a), abs(numeric)) {
                report.mismatches.append(Mismatch(coordinate: name, analytic: a, numeric: numeric))
            }
        }
        if checkInput, let analyticInput {
            for i in Self.coordinates(shape.count, samples: samples, rng: &rng) {
                compare("input[\(i)]", analytic: analyticInput[i]) { x[i] += $0 }
            }
        }
        for (p, analytic) in zip(layer.parameters, analyticParameters) {
            for i in Self.coordinates(p.count, samples: samples, rng: &rng) {
                compare("\(p.name)[\(i)]", analytic: analytic[i]) { p.value[i] += $0 }
            }
        }
        return report
    }

    static func coordinates(_ count: Int, samples: Int, rng: inout SplitMix64) -> [Int] {
        if count <= samples { return Array(0..<count) }
        var chosen = Set<Int>()
        while chosen.count < samples { chosen.insert(rng.int(in: 0...(count - 1))) }
        return chosen.sorted()
    }
}

enum Random {
    static func normal(_ rng: inout SplitMix64) -> Double {
        let u1 = 1 - rng.unit(), u2 = rng.unit()
        return (-2 * log(u1)).squareRoot() * cos(2 * Double.pi * u2)
    }

    static func floats(_ count: Int, seed: UInt64, scale: Float = 1) -> [Float] {
        var rng = SplitMix64(seed: seed)
        return (0..<count).map { _ in Float(normal(&rng)) * scale }
    }
}
