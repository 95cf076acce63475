import LoomLoader

/// One small sgemm checked against a double-precision reference: the test a kernel chosen by
/// ``KernelSelection`` must pass before a training run trusts it.
public enum SgemmCheck {
    public struct Result: Sendable, Hashable {
        public var relativeError: Double
        public var passed: Bool
    }

    /// The kernel's product: row-major C (m x n) = A (m x k) * B (k x n).
    public typealias Multiply = (_ m: Int, _ n: Int, _ k: Int, _ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>,
                                 _ c: UnsafeMutablePointer<Float>) -> Void

    /// Multiplies seeded random 97x71 and 71x83 matrices (odd sizes, so edge kernels run too) and
    /// compares with the product in Double: passes when ‖C - ref‖ / ‖ref‖ (Frobenius) is below `tolerance`.
    /// - Parameter multiply: the product under test; nil for OpenBLAS's `cblas_sgemm`.
    public static func run(m: Int = 97, n: Int = 83, k: Int = 71, tolerance: Double = 1e-4,
                           multiply: Multiply? = nil) -> Result {
        let multiply = multiply ?? { m, n, k, a, b, c in
            Gemm.multiply(m: m, n: n, k: k, a, lda: k, b, ldb: n, into: c, ldc: n)
        }
        var rng = SplitMix64(seed: 0x5347_454D_4D)
        let a = (0..<(m * k)).map { _ in Float(rng.unit() * 2 - 1) }
        let b = (0..<(k * n)).map { _ in Float(rng.unit() * 2 - 1) }
        var c = [Float](repeating: .nan, count: m * n)
        a.withUnsafeBufferPointer { a in
            b.withUnsafeBufferPointer { b in
                c.withUnsafeMutableBufferPointer { c in multiply(m, n, k, a.baseAddress!, b.baseAddress!, c.baseAddress!) }
            }
        }
        var errorSquared = 0.0, referenceSquared = 0.0
        for i in 0..<m {
            for j in 0..<n {
                var reference = 0.0
                for p in 0..<k { reference += Double(a[i * k + p]) * Double(b[p * n + j]) }
                let difference = Double(c[i * n + j]) - reference
                errorSquared += difference * difference
                referenceSquared += reference * reference
            }
        }
        let relative = (errorSquared / max(referenceSquared, .leastNormalMagnitude)).squareRoot()
        // NaN (an unwritten or garbage result) must fail, so compare the way NaN loses.
        return Result(relativeError: relative, passed: relative < tolerance)
    }
}
