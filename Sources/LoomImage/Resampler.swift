/// Bilinear resampling of packed RGB images, as a window onto a "virtual" resized image.
///
/// The virtual image is `region` of the source scaled to `virtualWidth x virtualHeight`; the
/// output is the window at (`windowX`, `windowY`) of it. Source coordinates follow the
/// pixel-centre convention (torchvision / PIL, `align_corners=False`):
/// `src = region.x + (X + 0.5) * region.width / virtualWidth - 0.5` for virtual column `X`.
/// Because weights are computed from the virtual integer coordinate, a window cut out of a
/// full-size virtual image is bit-identical to rendering that window directly — which is what
/// lets the pixel cache reproduce the evaluation transform exactly.
///
/// Fixed point: 8-bit weights, two separable passes (vertical, then horizontal), each rounding
/// to 8 bits (at most one level of difference from exact bilinear).
public struct ResampleRegion: Sendable, Equatable {
    public var x: Double
    public var y: Double
    public var width: Double
    public var height: Double

    public init(x: Double, y: Double, width: Double, height: Double) {
        self.x = x
        self.y = y
        self.width = width
        self.height = height
    }
}

public final class Resampler {
    private var xLeft: [Int] = []
    private var xRight: [Int] = []
    private var xWeight: [UInt16] = []
    private var blended: [UInt8] = []

    public init() {}

    /// Renders the window into `destination` (packed RGB, `windowWidth * windowHeight * 3` bytes,
    /// rows `destinationStride` bytes apart), mirrored left-right when `flip`.
    ///
    /// Vertical pass first, over the contiguous span of source columns the window needs (a
    /// straight multiply-add over bytes that the compiler vectorises), into a byte row; then the
    /// horizontal 2-tap pass, one pixel per SIMD operation. Rows whose vertical taps repeat
    /// (upscaling) reuse the blended row.
    public func render(
        source: UnsafePointer<UInt8>, sourceWidth: Int, sourceHeight: Int, region: ResampleRegion,
        virtualWidth: Int, virtualHeight: Int, windowX: Int = 0, windowY: Int = 0,
        windowWidth: Int, windowHeight: Int, flip: Bool = false,
        destination: UnsafeMutablePointer<UInt8>, destinationStride: Int? = nil
    ) {
        guard windowWidth > 0, windowHeight > 0 else { return }
        let stride = destinationStride ?? windowWidth * 3
        let scaleX = region.width / Double(virtualWidth), scaleY = region.height / Double(virtualHeight)
        if xLeft.count < windowWidth {
            xLeft = [Int](repeating: 0, count: windowWidth)
            xRight = [Int](repeating: 0, count: windowWidth)
            xWeight = [UInt16](repeating: 0, count: windowWidth)
        }
        var spanFirst = sourceWidth, spanLast = 0
        for x in 0..<windowWidth {
            let (index, _) = Self.tap(region.x + (Double(windowX + x) + 0.5) * scaleX - 0.5, limit: sourceWidth)
            spanFirst = min(spanFirst, index)
            spanLast = max(spanLast, min(index + 1, sourceWidth - 1))
        }
        for x in 0..<windowWidth {
            let (index, weight) = Self.tap(region.x + (Double(windowX + x) + 0.5) * scaleX - 0.5, limit: sourceWidth)
            let out = flip ? windowWidth - 1 - x : x
            xLeft[out] = (index - spanFirst) * 3
            xRight[out] = (min(index + 1, sourceWidth - 1) - spanFirst) * 3
            xWeight[out] = UInt16(weight)
        }
        let spanCount = (spanLast - spanFirst + 1) * 3
        // +4: the horizontal pass loads 4 bytes per pixel (RGB + one to spare).
        if blended.count < spanCount + 4 { blended = [UInt8](repeating: 0, count: spanCount + 4) }
        xLeft.withUnsafeBufferPointer { left in
        xRight.withUnsafeBufferPointer { right in
        xWeight.withUnsafeBufferPointer { weights in
        blended.withUnsafeMutableBufferPointer { row in
            let xl = left.baseAddress!, xr = right.baseAddress!, xw = weights.baseAddress!, v = row.baseAddress!
            var cachedTop = -1, cachedWeight = -1
            for y in 0..<windowHeight {
                let (top, wy) = Self.tap(region.y + (Double(windowY + y) + 0.5) * scaleY - 0.5, limit: sourceHeight)
                if top != cachedTop || wy != cachedWeight {
                    let bottom = min(top + 1, sourceHeight - 1)
                    let a = source + (top * sourceWidth + spanFirst) * 3
                    let b = source + (bottom * sourceWidth + spanFirst) * 3
                    let w1 = UInt16(wy), w0 = 256 - w1
                    for i in 0..<spanCount {
                        v[i] = UInt8(truncatingIfNeeded: (UInt16(a[i]) &* w0 &+ UInt16(b[i]) &* w1 &+ 128) &>> 8)
                    }
                    cachedTop = top
                    cachedWeight = wy
                }
                // One pixel = one 4-byte load per tap, blended in four 16-bit lanes (RGB + a spare
                // lane): 255 * 256 fits in 16 bits, so SSE2's 16-bit multiplies do all three channels.
                let out = destination + y &* stride
                let raw = UnsafeRawPointer(v)
                @inline(__always) func pixel(_ x: Int) -> SIMD4<UInt8> {
                    let l = SIMD4<UInt16>(truncatingIfNeeded: raw.loadUnaligned(fromByteOffset: xl[x], as: SIMD4<UInt8>.self))
                    let r = SIMD4<UInt16>(truncatingIfNeeded: raw.loadUnaligned(fromByteOffset: xr[x], as: SIMD4<UInt8>.self))
                    let w1 = SIMD4<UInt16>(repeating: xw[x]), w0 = SIMD4<UInt16>(repeating: 256) &- w1
                    return SIMD4<UInt8>(truncatingIfNeeded: (l &* w0 &+ r &* w1 &+ 128) &>> 8)
                }
                for x in 0..<(windowWidth - 1) {
                    // Writes 4 bytes; the 4th is the next pixel's red, overwritten next iteration.
                    UnsafeMutableRawPointer(out + x &* 3).storeBytes(of: pixel(x), as: SIMD4<UInt8>.self)
                }
                let last = pixel(windowWidth - 1), tail = out + (windowWidth - 1) * 3
                tail[0] = last[0]
                tail[1] = last[1]
                tail[2] = last[2]
            }
        }}}}
    }

    /// The left/top tap and the 0...256 weight of the next one, clamped to the image.
    @inline(__always)
    static func tap(_ coordinate: Double, limit: Int) -> (Int, Int) {
        if coordinate <= 0 { return (0, 0) }
        let maxIndex = Double(limit - 1)
        if coordinate >= maxIndex { return (limit - 1, 0) }
        let floor = coordinate.rounded(.down)
        return (Int(floor), Int(((coordinate - floor) * 256).rounded()))
    }
}
