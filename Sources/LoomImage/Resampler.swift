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
/// Fixed point: 8-bit weights, two separable passes (horizontal into a row cache, then vertical).
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
    private var xIndex: [Int32] = []
    private var xWeight: [Int32] = []
    private var rowA: [Int32] = []
    private var rowB: [Int32] = []

    public init() {}

    /// Renders the window into `destination` (packed RGB, `windowWidth * windowHeight * 3` bytes,
    /// rows `destinationStride` bytes apart), mirrored left-right when `flip`.
    public func render(
        source: UnsafePointer<UInt8>, sourceWidth: Int, sourceHeight: Int, region: ResampleRegion,
        virtualWidth: Int, virtualHeight: Int, windowX: Int = 0, windowY: Int = 0,
        windowWidth: Int, windowHeight: Int, flip: Bool = false,
        destination: UnsafeMutablePointer<UInt8>, destinationStride: Int? = nil
    ) {
        let stride = destinationStride ?? windowWidth * 3
        let scaleX = region.width / Double(virtualWidth), scaleY = region.height / Double(virtualHeight)
        if xIndex.count < windowWidth {
            xIndex = [Int32](repeating: 0, count: windowWidth)
            xWeight = [Int32](repeating: 0, count: windowWidth)
            rowA = [Int32](repeating: 0, count: windowWidth * 3)
            rowB = [Int32](repeating: 0, count: windowWidth * 3)
        }
        for x in 0..<windowWidth {
            let (index, weight) = Self.tap(region.x + (Double(windowX + x) + 0.5) * scaleX - 0.5, limit: sourceWidth)
            let out = flip ? windowWidth - 1 - x : x
            xIndex[out] = Int32(index)
            xWeight[out] = Int32(weight)
        }
        xIndex.withUnsafeBufferPointer { xi in
        xWeight.withUnsafeBufferPointer { xw in
        rowA.withUnsafeMutableBufferPointer { rowA in
        rowB.withUnsafeMutableBufferPointer { rowB in
            var a = rowA, b = rowB
            var cachedA = -1, cachedB = -1
            for y in 0..<windowHeight {
                let (top, wy) = Self.tap(region.y + (Double(windowY + y) + 0.5) * scaleY - 0.5, limit: sourceHeight)
                let bottom = min(top + 1, sourceHeight - 1)
                // Successive output rows mostly reuse the same two source rows: keep them.
                if cachedA != top {
                    if cachedB == top { swap(&a, &b); swap(&cachedA, &cachedB) } else {
                        Self.horizontal(source + top * sourceWidth * 3, sourceWidth, xi, xw, windowWidth, a)
                        cachedA = top
                    }
                }
                if cachedB != bottom {
                    Self.horizontal(source + bottom * sourceWidth * 3, sourceWidth, xi, xw, windowWidth, b)
                    cachedB = bottom
                }
                let out = destination + y * stride
                let w1 = Int32(wy), w0 = 256 - w1
                for i in 0..<(windowWidth * 3) {
                    out[i] = UInt8(truncatingIfNeeded: (a[i] &* w0 &+ b[i] &* w1 &+ 32768) >> 16)
                }
            }
        }}}}
    }

    /// Horizontal pass: one source row to `windowWidth` pixels, 8-bit fractional weights (x256).
    @inline(__always)
    private static func horizontal(
        _ row: UnsafePointer<UInt8>, _ width: Int, _ xi: UnsafeBufferPointer<Int32>, _ xw: UnsafeBufferPointer<Int32>,
        _ count: Int, _ out: UnsafeMutableBufferPointer<Int32>
    ) {
        for x in 0..<count {
            let left = Int(xi[x]), right = min(left + 1, width - 1)
            let w1 = xw[x], w0 = 256 - w1
            let l = row + left * 3, r = row + right * 3
            out[x * 3] = Int32(l[0]) &* w0 &+ Int32(r[0]) &* w1
            out[x * 3 + 1] = Int32(l[1]) &* w0 &+ Int32(r[1]) &* w1
            out[x * 3 + 2] = Int32(l[2]) &* w0 &+ Int32(r[2]) &* w1
        }
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
