import LoomImage
import Testing

/// The supported scale `numerator/denominator` (JPEGScale has no public initializer: callers pick
/// from `supported`).
func factor(_ numerator: Int, _ denominator: Int) -> JPEGScale {
    guard let scale = JPEGScale.supported.first(where: { $0.numerator == numerator && $0.denominator == denominator }) else {
        fatalError("\(numerator)/\(denominator) is not a supported JPEG scale")
    }
    return scale
}

@Suite("JPEGScale")
struct JPEGScaleTests {
    @Test func supportedFactorsAreLibjpegTurbosEighths() {
        let supported = JPEGScale.supported
        #expect(supported == supported.sorted())
        #expect(supported.first == .eighth)
        #expect(supported.contains(.full))
        // libjpeg-turbo scales by every multiple of 1/8 from 1/8 to 2/1 (reduced fractions).
        let eighths = supported.map { $0.numerator * 8 / $0.denominator }
        #expect(eighths == Array(1...16))
        for scale in supported { #expect(8 % scale.denominator == 0, "\(scale)") }
    }

    @Test(arguments: [
        // (image, target, expected scale)
        (500, 375, 224, 224, factor(5, 8)),     // 1/2 gives 250x188: too short
        (4000, 3000, 224, 224, .eighth),        // 500x375
        (640, 480, 256, 256, factor(5, 8)),     // 400x300
        (1024, 768, 224, 224, factor(3, 8)),    // 384x288; 1/4 gives 256x192
        (800, 600, 100, 100, factor(1, 4)),     // 200x150; 1/8 gives 100x75
        (1000, 1000, 125, 125, .eighth),        // exactly 125x125
        (1001, 1001, 126, 126, .eighth),        // ceil(1001/8) = 126
        (1000, 1000, 126, 126, factor(1, 4)),
        (300, 2000, 224, 224, factor(3, 4)),    // 225x1500; 5/8 gives 188 wide
        (224, 224, 224, 224, .full),
        (225, 300, 224, 224, .full),            // 7/8 gives 197 wide
        (100, 80, 224, 224, .full),             // never upscales
    ])
    func smallestCovering(width: Int, height: Int, minWidth: Int, minHeight: Int, expected: JPEGScale) {
        let scale = JPEGScale.smallest(covering: minWidth, minHeight, width: width, height: height)
        #expect(scale == expected)
        #expect(scale <= .full)
        let covers = { (s: JPEGScale) in s.scaled(width) >= minWidth && s.scaled(height) >= minHeight }
        if scale < .full || covers(.full) {
            #expect(covers(scale), "\(scale) gives \(scale.scaled(width))x\(scale.scaled(height))")
        }
        if let smaller = JPEGScale.supported.last(where: { $0 < scale }) {
            #expect(!covers(smaller), "\(smaller) would already cover \(minWidth)x\(minHeight)")
        }
    }

    /// Every image size up to 40x40 against every target up to it: the chosen scale is the
    /// smallest supported one that covers.
    @Test func smallestCoveringSweep() {
        let candidates = JPEGScale.supported.filter { $0 <= .full }
        for width in stride(from: 1, through: 40, by: 3) {
            for height in stride(from: 1, through: 40, by: 5) {
                for target in [1, 2, 5, 9, 17, 33] {
                    let scale = JPEGScale.smallest(covering: target, target, width: width, height: height)
                    let expected = candidates.first { $0.scaled(width) >= target && $0.scaled(height) >= target } ?? .full
                    #expect(scale == expected, "\(width)x\(height) covering \(target)")
                }
            }
        }
    }

    @Test(arguments: [(1, 1), (7, 5), (8, 8), (9, 17), (101, 67), (500, 375)])
    func scaledRoundsUp(width: Int, height: Int) {
        for scale in JPEGScale.supported {
            let exact = Double(width * scale.numerator) / Double(scale.denominator)
            #expect(scale.scaled(width) == Int(exact.rounded(.up)), "\(scale) of \(width)")
        }
    }

    @Test func ordersByValueNotByParts() {
        #expect(factor(1, 2) < factor(5, 8))
        #expect(factor(7, 8) < .full)
        #expect(factor(3, 8).description == "3/8")
    }
}
