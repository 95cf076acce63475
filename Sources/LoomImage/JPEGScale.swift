internal import CTurboJPEG

/// A DCT scaling factor libjpeg-turbo can apply while decoding (1/8 ... 2/1).
///
/// Decoding at a reduced scale skips most of the inverse DCT and the upsampling; Huffman decoding
/// still reads every bit, so a scaled decode still finds a corrupt scan.
public struct JPEGScale: Hashable, Sendable, Comparable, CustomStringConvertible {
    public let numerator: Int
    public let denominator: Int

    public init(numerator: Int, denominator: Int) {
        self.numerator = numerator
        self.denominator = denominator
    }

    public static let full = JPEGScale(numerator: 1, denominator: 1)
    public static let eighth = JPEGScale(numerator: 1, denominator: 8)

    /// Every factor the linked libjpeg-turbo supports, smallest first (`tjGetScalingFactors`).
    public static let supported: [JPEGScale] = {
        var count: Int32 = 0
        guard let factors = tjGetScalingFactors(&count), count > 0 else { return [.full] }
        return (0..<Int(count)).map { JPEGScale(numerator: Int(factors[$0].num), denominator: Int(factors[$0].denom)) }
            .sorted()
    }()

    /// The size a `width x height` image decodes to at this scale (libjpeg's `TJSCALED`).
    public func scaled(_ dimension: Int) -> Int {
        (dimension * numerator + denominator - 1) / denominator
    }

    /// The scales libjpeg-turbo decodes with SIMD code (1/8, 1/4, 1/2, 1/1). The others (3/8,
    /// 5/8, 3/4, 7/8) run scalar inverse DCTs and are slower than a full-size decode (measured
    /// with `loom bench decode`), so the loader only picks among these.
    public static let accelerated: [JPEGScale] = [1, 2, 4, 8].map { JPEGScale(numerator: 1, denominator: $0) }
        .filter { supported.contains($0) }.sorted()

    /// The smallest scale among `candidates` at which both sides stay at least
    /// `minWidth x minHeight`, capped at full size (never upscale in the decoder).
    public static func smallest(covering minWidth: Int, _ minHeight: Int, width: Int, height: Int,
                                among candidates: [JPEGScale] = supported) -> JPEGScale {
        for scale in candidates where scale <= .full {
            if scale.scaled(width) >= minWidth && scale.scaled(height) >= minHeight { return scale }
        }
        return .full
    }

    public static func < (lhs: JPEGScale, rhs: JPEGScale) -> Bool {
        lhs.numerator * rhs.denominator < rhs.numerator * lhs.denominator
    }

    public var description: String { "\(numerator)/\(denominator)" }
}
