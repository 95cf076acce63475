import LoomImage
import LoomLoader
import LoomTestSupport
import Testing

/// The bilinear resampler behind every transform: identity, window consistency, flip.
@Suite struct ResamplerTests {
    static func randomImage(width: Int, height: Int, seed: UInt64) -> [UInt8] {
        var rng = SeededGenerator(seed: seed)
        return (0..<(width * height * 3)).map { _ in rng.nextByte() }
    }

    static func render(_ resampler: Resampler = Resampler(), source: [UInt8], width: Int, height: Int, region: ResampleRegion,
                       virtual: (Int, Int), window: (x: Int, y: Int, w: Int, h: Int), flip: Bool = false) -> [UInt8] {
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

    /// Rows `y0..<y0+h`, columns `x0..<x0+w` of a packed RGB image `width` wide.
    static func cut(_ image: [UInt8], width: Int, x0: Int, y0: Int, w: Int, h: Int) -> [UInt8] {
        var out: [UInt8] = []
        for y in y0..<(y0 + h) {
            let from: Int = (y * width + x0) * 3
            out += image[from..<(from + w * 3)]
        }
        return out
    }

    static func mirrored(_ image: [UInt8], width: Int, height: Int) -> [UInt8] {
        var out = image
        for y in 0..<height {
            for x in 0..<width {
                for c in 0..<3 { out[(y * width + x) * 3 + c] = image[(y * width + width - 1 - x) * 3 + c] }
            }
        }
        return out
    }

    @Test(arguments: [(1, 1), (2, 3), (37, 29), (96, 72), (5, 120)])
    func identityRenderCopiesExactly(_ size: (Int, Int)) {
        let (w, h) = size
        let source = Self.randomImage(width: w, height: h, seed: UInt64(w * 1000 + h))
        let out = Self.render(source: source, width: w, height: h, region: ResampleRegion(x: 0, y: 0, width: Double(w), height: Double(h)),
                              virtual: (w, h), window: (0, 0, w, h))
        expectSameBytes(out, source, "identity \(w)x\(h)")
        // Flipped identity is the exact mirror image.
        let flipped = Self.render(source: source, width: w, height: h,
                                  region: ResampleRegion(x: 0, y: 0, width: Double(w), height: Double(h)),
                                  virtual: (w, h), window: (0, 0, w, h), flip: true)
        expectSameBytes(flipped, Self.mirrored(source, width: w, height: h), "flipped identity \(w)x\(h)")
    }

    @Test func identityWindowIsACut() {
        let source = Self.randomImage(width: 50, height: 40, seed: 5)
        let out = Self.render(source: source, width: 50, height: 40, region: ResampleRegion(x: 0, y: 0, width: 50, height: 40),
                              virtual: (50, 40), window: (9, 4, 32, 32))
        expectSameBytes(out, Self.cut(source, width: 50, x0: 9, y0: 4, w: 32, h: 32), "identity window")
    }

    @Test func windowOfAFullRenderEqualsTheWindowRenderedDirectly() {
        var rng = SeededGenerator(seed: 99)
        func uniform(_ r: ClosedRange<Double>) -> Double { r.lowerBound + (r.upperBound - r.lowerBound) * rng.nextUnit() }
        func int(_ r: ClosedRange<Int>) -> Int { r.lowerBound + Int(rng.next() % UInt64(r.count)) }
        let shared = Resampler()  // reused across sizes, as a worker does
        for trial in 0..<40 {
            let sw = int(8...90), sh = int(8...90)
            let source = Self.randomImage(width: sw, height: sh, seed: UInt64(trial))
            let rw = uniform(1...Double(sw)), rh = uniform(1...Double(sh))
            let region = ResampleRegion(x: uniform(0...(Double(sw) - rw)), y: uniform(0...(Double(sh) - rh)), width: rw, height: rh)
            let vw = int(2...120), vh = int(2...120)
            let full = Self.render(shared, source: source, width: sw, height: sh, region: region, virtual: (vw, vh), window: (0, 0, vw, vh))
            let ww = int(1...vw), wh = int(1...vh)
            let wx = int(0...(vw - ww)), wy = int(0...(vh - wh))
            let direct = Self.render(shared, source: source, width: sw, height: sh, region: region, virtual: (vw, vh),
                                     window: (wx, wy, ww, wh))
            let expected = Self.cut(full, width: vw, x0: wx, y0: wy, w: ww, h: wh)
            expectSameBytes(direct, expected, "trial \(trial): \(sw)x\(sh) region \(region) virtual \(vw)x\(vh) window \(wx),\(wy) \(ww)x\(wh)")
            let fresh = Self.render(source: source, width: sw, height: sh, region: region, virtual: (vw, vh), window: (wx, wy, ww, wh))
            expectSameBytes(fresh, direct, "trial \(trial): a reused resampler differs from a fresh one")
            let flipped = Self.render(shared, source: source, width: sw, height: sh, region: region, virtual: (vw, vh),
                                      window: (wx, wy, ww, wh), flip: true)
            expectSameBytes(flipped, Self.mirrored(direct, width: ww, height: wh), "trial \(trial): flip")
        }
    }

    @Test func destinationStrideLeavesThePaddingAlone() {
        let source = Self.randomImage(width: 30, height: 20, seed: 1)
        let region = ResampleRegion(x: 2.5, y: 1.25, width: 20, height: 15)
        let packed = Self.render(source: source, width: 30, height: 20, region: region, virtual: (16, 12), window: (0, 0, 16, 12))
        let stride = 16 * 3 + 7
        var padded = [UInt8](repeating: 0xAB, count: stride * 12)
        source.withUnsafeBufferPointer { src in
            padded.withUnsafeMutableBufferPointer { dst in
                Resampler().render(source: src.baseAddress!, sourceWidth: 30, sourceHeight: 20, region: region,
                                   virtualWidth: 16, virtualHeight: 12, windowWidth: 16, windowHeight: 12,
                                   destination: dst.baseAddress!, destinationStride: stride)
            }
        }
        for y in 0..<12 {
            expectSameBytes(padded[(y * stride)..<(y * stride + 48)], packed[(y * 48)..<(y * 48 + 48)], "row \(y)")
            #expect(padded[(y * stride + 48)..<(y * stride + stride)].allSatisfy { $0 == 0xAB })
        }
    }

    @Test func uniformImageStaysUniformAtAnyScale() {
        let source = [UInt8](repeating: 0, count: 40 * 30 * 3).enumerated().map { UInt8([200, 17, 99][$0.offset % 3]) }
        for (vw, vh) in [(7, 5), (40, 30), (123, 77)] {
            let out = Self.render(source: source, width: 40, height: 30, region: ResampleRegion(x: 3.3, y: 1.7, width: 30.1, height: 21.9),
                                  virtual: (vw, vh), window: (0, 0, vw, vh))
            #expect(out.enumerated().allSatisfy { $0.element == [200, 17, 99][$0.offset % 3] }, "\(vw)x\(vh)")
        }
    }

    @Test func upscalingInterpolatesBetweenNeighbours() {
        // A 2x1 image, black and white, stretched to 4x1: pixel centres at source x = -0.25, 0.25, 0.75, 1.25.
        let source: [UInt8] = [0, 0, 0, 255, 255, 255]
        let out = Self.render(source: source, width: 2, height: 1, region: ResampleRegion(x: 0, y: 0, width: 2, height: 1),
                              virtual: (4, 1), window: (0, 0, 4, 1))
        #expect(out.enumerated().filter { $0.offset % 3 == 0 }.map(\.element) == [0, 64, 191, 255])
    }

    /// A region decode hands the resampler only the rectangle the crop needs: rendered through a
    /// `SourceWindow`, it must give the bytes of the same render from the whole image.
    @Test(arguments: [false, true])
    func aSourceWindowRendersLikeTheWholeImage(flip: Bool) {
        let width = 97, height = 61
        let image = Self.randomImage(width: width, height: height, seed: 5)
        var rng = SeededGenerator(seed: 9)
        for _ in 0..<30 {
            let w = Double.random(in: 1...Double(width - 1), using: &rng), h = Double.random(in: 1...Double(height - 1), using: &rng)
            let region = ResampleRegion(x: Double.random(in: 0...(Double(width) - w), using: &rng),
                                        y: Double.random(in: 0...(Double(height) - h), using: &rng), width: w, height: h)
            let vw = Int.random(in: 1...120, using: &rng), vh = Int.random(in: 1...120, using: &rng)
            let whole = Self.render(source: image, width: width, height: height, region: region, virtual: (vw, vh),
                                    window: (0, 0, vw, vh), flip: flip)
            // Every pixel whose centre lies in the region, plus a ragged margin as a decoder leaves.
            let x0 = max(0, Int(region.x) - Int.random(in: 0...3, using: &rng))
            let y0 = max(0, Int(region.y) - Int.random(in: 0...3, using: &rng))
            let x1 = min(width, Int((region.x + region.width).rounded(.up)) + Int.random(in: 0...3, using: &rng))
            let y1 = min(height, Int((region.y + region.height).rounded(.up)) + Int.random(in: 0...3, using: &rng))
            let part = Self.cut(image, width: width, x0: x0, y0: y0, w: x1 - x0, h: y1 - y0)
            var out = [UInt8](repeating: 0xEE, count: vw * vh * 3)
            part.withUnsafeBufferPointer { src in
                out.withUnsafeMutableBufferPointer { dst in
                    Resampler().render(source: src.baseAddress!, sourceWidth: x1 - x0, sourceHeight: y1 - y0, region: region,
                                       virtualWidth: vw, virtualHeight: vh, windowWidth: vw, windowHeight: vh, flip: flip,
                                       sourceWindow: SourceWindow(left: x0, top: y0, imageWidth: width, imageHeight: height),
                                       destination: dst.baseAddress!)
                }
            }
            #expect(out == whole, "region \(region) to \(vw)x\(vh)")
        }
    }
}
