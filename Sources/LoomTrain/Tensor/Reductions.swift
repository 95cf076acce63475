/// Sums over one contiguous channel, in a fixed order, fast and accurate enough for BatchNorm.
///
/// Eight float accumulators per block of ``blockSize`` elements (independent chains that LLVM
/// turns into one vector register), and the block totals added in Double. The order of additions
/// depends only on the count, so results are bit-reproducible.
enum Reductions {
    static let blockSize = 2048

    /// Σ x[i].
    static func sum(_ x: UnsafePointer<Float>, count: Int) -> Double {
        blocked(count) { range in
            var a = Accumulators()
            var i = range.lowerBound
            while i + 8 <= range.upperBound {
                a.add(x[i], x[i + 1], x[i + 2], x[i + 3], x[i + 4], x[i + 5], x[i + 6], x[i + 7])
                i += 8
            }
            var tail: Float = 0
            while i < range.upperBound { tail += x[i]; i += 1 }
            return a.total + tail
        }
    }

    /// Σ (x[i] - mean)², the second pass of a two-pass variance.
    static func sumOfSquares(_ x: UnsafePointer<Float>, count: Int, around mean: Float) -> Double {
        blocked(count) { range in
            var a = Accumulators()
            var i = range.lowerBound
            while i + 8 <= range.upperBound {
                let d0 = x[i] - mean, d1 = x[i + 1] - mean, d2 = x[i + 2] - mean, d3 = x[i + 3] - mean
                let d4 = x[i + 4] - mean, d5 = x[i + 5] - mean, d6 = x[i + 6] - mean, d7 = x[i + 7] - mean
                a.add(d0 * d0, d1 * d1, d2 * d2, d3 * d3, d4 * d4, d5 * d5, d6 * d6, d7 * d7)
                i += 8
            }
            var tail: Float = 0
            while i < range.upperBound { let d = x[i] - mean; tail += d * d; i += 1 }
            return a.total + tail
        }
    }

    /// (Σ g[i], Σ g[i] * (x[i] - mean)): BatchNorm's backward reductions.
    static func gradientSums(_ g: UnsafePointer<Float>, _ x: UnsafePointer<Float>, count: Int, mean: Float) -> (Double, Double) {
        var sumG = 0.0, sumGX = 0.0
        var start = 0
        while start < count {
            let end = min(start + blockSize, count)
            var a = Accumulators(), b = Accumulators()
            var i = start
            while i + 8 <= end {
                a.add(g[i], g[i + 1], g[i + 2], g[i + 3], g[i + 4], g[i + 5], g[i + 6], g[i + 7])
                b.add(g[i] * (x[i] - mean), g[i + 1] * (x[i + 1] - mean), g[i + 2] * (x[i + 2] - mean),
                      g[i + 3] * (x[i + 3] - mean), g[i + 4] * (x[i + 4] - mean), g[i + 5] * (x[i + 5] - mean),
                      g[i + 6] * (x[i + 6] - mean), g[i + 7] * (x[i + 7] - mean))
                i += 8
            }
            var tailA: Float = 0, tailB: Float = 0
            while i < end {
                tailA += g[i]
                tailB += g[i] * (x[i] - mean)
                i += 1
            }
            sumG += Double(a.total + tailA)
            sumGX += Double(b.total + tailB)
            start = end
        }
        return (sumG, sumGX)
    }

    private static func blocked(_ count: Int, _ block: (Range<Int>) -> Float) -> Double {
        var total = 0.0
        var start = 0
        while start < count {
            let end = min(start + blockSize, count)
            total += Double(block(start..<end))
            start = end
        }
        return total
    }
}

/// Eight independent float sums, combined pairwise at the end.
private struct Accumulators {
    var s0: Float = 0, s1: Float = 0, s2: Float = 0, s3: Float = 0
    var s4: Float = 0, s5: Float = 0, s6: Float = 0, s7: Float = 0

    @inline(__always)
    mutating func add(_ a0: Float, _ a1: Float, _ a2: Float, _ a3: Float, _ a4: Float, _ a5: Float, _ a6: Float, _ a7: Float) {
        s0 += a0; s1 += a1; s2 += a2; s3 += a3; s4 += a4; s5 += a5; s6 += a6; s7 += a7
    }

    var total: Float { ((s0 + s1) + (s2 + s3)) + ((s4 + s5) + (s6 + s7)) }
}
