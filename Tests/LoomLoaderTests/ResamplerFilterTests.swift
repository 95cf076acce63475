import LoomImage
import LoomTestSupport
import Testing

/// The resampler's filter is PIL's BILINEAR (a triangle widened by the shrink factor), and its
/// taps stay inside the crop, as torchvision's crop-then-resize does.
@Suite struct ResamplerFilterTests {
    typealias Window = (x: Int, y: Int, w: Int, h: Int)

    static func render(source: [UInt8], width: Int, height: Int, region: ResampleRegion, virtual: (Int, Int),
                       window: Window, flip: Bool = false, resampler: Resampler = Resampler()) -> [UInt8] {
        var out = [UInt8](repeating: 0xEE, count: window.w * window.h * 3)
        source.withUnsafeBufferPointer { src in
            out.withUnsafeMutableBufferPointer { dst in
                resampler.render(source: src.baseAddress!, sourceWidth: width, sourceHeight: height, region: region,
                                 virtualWidth: virtual.0, virtualHeight: virtual.1, windowX: window.x, windowY: window.y,
                                 windowWidth: window.w, windowHeight: window.h, flip: flip, destination: dst.baseAddress!)
            }
        }
        return out
    }

    /// PIL's `precompute_coeffs` in floating point: per output, the first source index and its weights.
    static func referenceTaps(origin: Double, length: Double, virtual: Int, limit: Int) -> [(Int, [Double])] {
        let scale = length / Double(virtual), filterScale = max(scale, 1)
        let lo = max(0, Int((origin - 0.5).rounded(.up))), hi = min(limit, Int((origin + length - 0.5).rounded(.up)))
        return (0..<virtual).map { i in
            let centre = origin + (Double(i) + 0.5) * scale
            let first = max(Int((centre - filterScale + 0.5).rounded(.down)), lo)
            let last = min(Int((centre + filterScale + 0.5).rounded(.down)), hi)
            var weights = (first..<max(last, first)).map { max(0, 1 - abs((Double($0) - centre + 0.5) / filterScale)) }
            let total = weights.reduce(0, +)
            weights = weights.map { $0 / total }
            return (first, weights)
        }
    }

    /// The whole virtual image in floating point (both passes unrounded), then the window.
    static func reference(source: [UInt8], width: Int, height: Int, region: ResampleRegion, virtual: (Int, Int),
                          window: Window, flip: Bool) -> [UInt8] {
        let xs = referenceTaps(origin: region.x, length: region.width, virtual: virtual.0, limit: width)
        let ys = referenceTaps(origin: region.y, length: region.height, virtual: virtual.1, limit: height)
        var out: [UInt8] = []
        for y in window.y..<(window.y + window.h) {
            for column in 0..<window.w {
                let x = window.x + (flip ? window.w - 1 - column : column)
                for c in 0..<3 {
                    var sum = 0.0
                    for (ky, wy) in ys[y].1.enumerated() {
                        for (kx, wx) in xs[x].1.enumerated() {
                            sum += wy * wx * Double(source[((ys[y].0 + ky) * width + xs[x].0 + kx) * 3 + c])
                        }
                    }
                    out.append(UInt8(min(255, max(0, sum.rounded()))))
                }
            }
        }
        return out
    }

    @Test(arguments: [(28, 28), (14, 14), (20, 20), (31, 9), (7, 40)])
    func tapsNeverLeaveTheCrop(_ output: (Int, Int)) {
        // Black inside the crop (x 10..<30, y 5..<25), white around it: any tap outside shows.
        let (w, h) = (40, 30)
        var source = [UInt8](repeating: 255, count: w * h * 3)
        for y in 5..<25 { for x in 10..<30 { for c in 0..<3 { source[(y * w + x) * 3 + c] = 0 } } }
        let out = Self.render(source: source, width: w, height: h, region: ResampleRegion(x: 10, y: 5, width: 20, height: 20),
                              virtual: output, window: (0, 0, output.0, output.1))
        #expect(out.allSatisfy { $0 == 0 }, "\(output): the crop's border mixed in \(out.max()!) from outside")
    }

    @Test func shrinkingWidensTheFilterAsPILDoes() {
        // One-pixel stripes, 60 -> 40 columns. A two-tap bilinear alternates 64 / 191; PIL's
        // BILINEAR (Image.resize) gives these values (Pillow 13).
        let (w, h) = (60, 4)
        var source = [UInt8](repeating: 0, count: w * h * 3)
        for y in 0..<h { for x in stride(from: 0, to: w, by: 2) { for c in 0..<3 { source[(y * w + x) * 3 + c] = 255 } } }
        let out = Self.render(source: source, width: w, height: h, region: ResampleRegion(x: 0, y: 0, width: 60, height: 4),
                              virtual: (40, 4), window: (0, 0, 40, 4))
        let pil = [159, 142, 113, 113, 142, 142, 113, 113, 142, 142, 113, 113, 142, 142, 113, 113, 142, 142, 113, 113,
                   142, 142, 113, 113, 142, 142, 113, 113, 142, 142, 113, 113, 142, 142, 113, 113, 142, 142, 113, 96]
        let row = stride(from: 0, to: 40 * 3, by: 3).map { Int(out[$0]) }
        #expect(pil.count == 40)
        #expect(zip(row, pil).allSatisfy { abs($0 - $1) <= 1 }, "got \(row)\nPIL \(pil)")
    }

    @Test func fixedPointMatchesTheFilterInFloatingPoint() {
        var rng = SeededGenerator(seed: 4242)
        func uniform(_ r: ClosedRange<Double>) -> Double { r.lowerBound + (r.upperBound - r.lowerBound) * rng.nextUnit() }
        func int(_ r: ClosedRange<Int>) -> Int { r.lowerBound + Int(rng.next() % UInt64(r.count)) }
        let shared = Resampler()
        var total = 0, differing = 0, worst = 0
        for trial in 0..<60 {
            let sw = int(20...160), sh = int(20...160)
            let source = FixtureImages.photo(width: sw, height: sh, seed: UInt64(trial))
            let rw = uniform(2...Double(sw)), rh = uniform(2...Double(sh))
            let region = ResampleRegion(x: uniform(0...(Double(sw) - rw)), y: uniform(0...(Double(sh) - rh)), width: rw, height: rh)
            // From 6x shrinking (the 14-bit path) to 4x growing, the two axes independently.
            let vw = max(1, Int(rw / uniform(0.25...6))), vh = max(1, Int(rh / uniform(0.25...6)))
            let ww = int(1...vw), wh = int(1...vh)
            let window: Window = (int(0...(vw - ww)), int(0...(vh - wh)), ww, wh)
            let flip = trial % 3 == 0
            let got = Self.render(source: source, width: sw, height: sh, region: region, virtual: (vw, vh), window: window,
                                  flip: flip, resampler: shared)
            let expected = Self.reference(source: source, width: sw, height: sh, region: region, virtual: (vw, vh),
                                          window: window, flip: flip)
            for (a, b) in zip(got, expected) {
                let d = abs(Int(a) - Int(b))
                total += 1
                if d > 0 { differing += 1 }
                worst = max(worst, d)
            }
            #expect(got.count == expected.count)
        }
        // Each pass rounds to a byte (as PIL's do) and weights have 8 or 14 bits: a level or two at most.
        #expect(worst <= 2, "worst difference \(worst)")
        #expect(Double(differing) / Double(total) < 0.35, "\(differing) of \(total) bytes differ")
    }
}
