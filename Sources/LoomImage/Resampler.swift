/// PIL's `BILINEAR` resize of packed RGB images, as a window onto a "virtual" resized image.
///
/// The virtual image is `region` of the source scaled to `virtualWidth x virtualHeight`; the
/// output is the window at (`windowX`, `windowY`) of it. The filter is PIL's (`Resample.c`),
/// which torchvision runs for PIL images and, with `antialias=True`, for tensors: a separable
/// triangle whose support widens with the downscale factor `scale = region / virtual` (support
/// `max(scale, 1)`, weight `triangle((source centre - centre) / max(scale, 1))`, normalised),
/// centred at `region.x + (X + 0.5) * scale` for virtual column `X`. A two-tap bilinear would
/// alias whenever it shrinks, even by less than 2x.
///
/// Taps never leave the region (only source pixels whose centres lie inside it): torchvision
/// crops, then resizes, so pixels outside the crop are not there to sample.
///
/// Because the weights depend only on the virtual coordinate, a window cut out of a full-size
/// virtual image is bit-identical to rendering that window directly, which is what lets the
/// pixel cache reproduce the evaluation transform exactly.
///
/// Fixed point: two separable passes (vertical, then horizontal), each rounding to 8 bits as
/// PIL's two passes do. Weights have 8 bits (sum 256, so a tap sum fits 16-bit SIMD lanes) when
/// an axis has at most ``narrowTaps`` taps; wider filters (shrinking more than ~3x, when the
/// decoder could not scale) use 14-bit weights in 32-bit lanes, since 8-bit ones would round
/// away much of each of many small weights.
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

/// Where a source buffer holding only a rectangle of an image (a region decode) sits in that
/// image. The taps are computed in the whole image's coordinates and only read through the
/// buffer, so a window rendered from a region is bit-identical to one rendered from the whole.
public struct SourceWindow: Sendable, Equatable {
    public var left: Int
    public var top: Int
    public var imageWidth: Int
    public var imageHeight: Int

    public init(left: Int, top: Int, imageWidth: Int, imageHeight: Int) {
        self.left = left
        self.top = top
        self.imageWidth = imageWidth
        self.imageHeight = imageHeight
    }
}

public final class Resampler {
    /// The widest filter that keeps 8-bit weights.
    static let narrowTaps = 8

    private var columns = FilterTaps()
    private var rows = FilterTaps()
    private var blended: [UInt8] = []
    private var accumulator16: [UInt16] = []
    private var accumulator32: [UInt32] = []
    /// The narrow horizontal pass's weights for pixel pairs `(2p, 2p+1)`: per tap, each pixel's
    /// weight in four lanes, so a pair takes one multiply per tap and no broadcasts.
    private var pairWeights: [SIMD8<UInt16>] = []

    public init() {}

    /// Renders the window into `destination` (packed RGB, `windowWidth * windowHeight * 3` bytes,
    /// rows `destinationStride` bytes apart), mirrored left-right when `flip`.
    ///
    /// With `sourceWindow`, `source` holds `sourceWidth x sourceHeight` pixels of a larger image
    /// and `region` is in that image's coordinates; the buffer must hold every pixel whose centre
    /// lies inside `region`.
    ///
    /// The taps of every output column and row are computed once per call. The vertical pass
    /// runs first, over the contiguous span of source columns the window needs (multiply-adds
    /// over bytes that the compiler vectorises), into a byte row; then the horizontal pass, one
    /// pixel per SIMD operation per tap. Consecutive rows with the same vertical taps
    /// (upscaling) reuse the blended row.
    public func render(
        source: UnsafePointer<UInt8>, sourceWidth: Int, sourceHeight: Int, region: ResampleRegion,
        virtualWidth: Int, virtualHeight: Int, windowX: Int = 0, windowY: Int = 0,
        windowWidth: Int, windowHeight: Int, flip: Bool = false, sourceWindow: SourceWindow? = nil,
        destination: UnsafeMutablePointer<UInt8>, destinationStride: Int? = nil
    ) {
        guard windowWidth > 0, windowHeight > 0, sourceWidth > 0, sourceHeight > 0 else { return }
        let frame = sourceWindow ?? SourceWindow(left: 0, top: 0, imageWidth: sourceWidth, imageHeight: sourceHeight)
        let stride = destinationStride ?? windowWidth * 3
        let wide = FilterTaps.taps(length: region.width, virtual: virtualWidth) > Self.narrowTaps
            || FilterTaps.taps(length: region.height, virtual: virtualHeight) > Self.narrowTaps
        let bits = wide ? 14 : 8
        columns.compute(origin: region.x, length: region.width, virtual: virtualWidth, first: windowX, count: windowWidth,
                        limit: frame.imageWidth, bits: bits, flip: flip)
        rows.compute(origin: region.y, length: region.height, virtual: virtualHeight, first: windowY, count: windowHeight,
                     limit: frame.imageHeight, bits: bits, flip: false)
        precondition(columns.lowest >= frame.left && columns.highest < frame.left + sourceWidth
                     && rows.lowest >= frame.top && rows.highest < frame.top + sourceHeight,
                     "Resampler: the taps reach outside the source buffer")
        let spanFirst = columns.lowest, spanCount = (columns.highest - spanFirst + 1) * 3
        // Padding: the horizontal pass loads 4 bytes per tap (RGB + one to spare) at every one of
        // `columns.stride` taps, zero-weighted past a column's own count.
        let padded = spanCount + columns.stride * 3 + 4
        if blended.count < padded { blended = [UInt8](repeating: 0, count: padded) }
        if wide {
            if accumulator32.count < spanCount { accumulator32 = [UInt32](repeating: 0, count: spanCount) }
        } else if accumulator16.count < spanCount {
            accumulator16 = [UInt16](repeating: 0, count: spanCount)
        }
        if !wide { columns.pairWeights(into: &pairWeights, count: windowWidth) }
        columns.byteOffsets.withUnsafeBufferPointer { xOffsets in
        columns.weights.withUnsafeBufferPointer { xWeights in
        rows.firsts.withUnsafeBufferPointer { yFirsts in
        rows.counts.withUnsafeBufferPointer { yCounts in
        rows.weights.withUnsafeBufferPointer { yWeights in
        blended.withUnsafeMutableBufferPointer { row in
        accumulator16.withUnsafeMutableBufferPointer { acc16 in
        accumulator32.withUnsafeMutableBufferPointer { acc32 in
        pairWeights.withUnsafeBufferPointer { pairs in
            let v = row.baseAddress!, xo = xOffsets.baseAddress!, xw = xWeights.baseAddress!
            let yStride = rows.stride, xStride = columns.stride
            var cachedRow = -1
            for y in 0..<windowHeight {
                if cachedRow < 0 || !rows.sameTaps(y, as: cachedRow) {
                    let first = yFirsts[y], count = yCounts[y], weights = yWeights.baseAddress! + y * yStride
                    let top = source + ((first - frame.top) * sourceWidth + spanFirst - frame.left) * 3, rowBytes = sourceWidth * 3
                    if wide {
                        Self.blendRows(top, rowBytes: rowBytes, count: count, weights: weights, bits: bits, spanCount: spanCount,
                                       into: v, accumulator: acc32.baseAddress!)
                    } else {
                        Self.blendRows(top, rowBytes: rowBytes, count: count, weights: weights, bits: bits, spanCount: spanCount,
                                       into: v, accumulator: acc16.baseAddress!)
                    }
                    cachedRow = y
                }
                let out = destination + y &* stride
                if wide {
                    Self.blendColumns(UnsafeRawPointer(v), offsets: xo, weights: xw, taps: xStride, lane: UInt32.self, bits: bits,
                                      width: windowWidth, into: out)
                } else {
                    Self.blendColumnPairs(UnsafeRawPointer(v), offsets: xo, weights: xw, pairs: pairs.baseAddress!, taps: xStride,
                                          width: windowWidth, into: out)
                }
            }
        }}}}}}}}}
    }

    /// The vertical pass: `count` source rows from `top`, weighted, rounded to bytes in `out`.
    @inline(__always)
    private static func blendRows<Lane: FixedWidthInteger & UnsignedInteger>(
        _ top: UnsafePointer<UInt8>, rowBytes: Int, count: Int, weights: UnsafePointer<UInt16>, bits: Int, spanCount: Int,
        into out: UnsafeMutablePointer<UInt8>, accumulator acc: UnsafeMutablePointer<Lane>
    ) {
        let half = Lane(1) << (bits - 1), shift = Lane(bits)
        switch count {
        case 1:
            out.update(from: top, count: spanCount)
        case 2:
            let a = top, b = top + rowBytes, w0 = Lane(weights[0]), w1 = Lane(weights[1])
            for i in 0..<spanCount {
                out[i] = UInt8(truncatingIfNeeded: (Lane(a[i]) &* w0 &+ Lane(b[i]) &* w1 &+ half) &>> shift)
            }
        default:
            let w0 = Lane(weights[0])
            for i in 0..<spanCount { acc[i] = Lane(top[i]) &* w0 &+ half }
            for k in 1..<count {
                let src = top + k * rowBytes, w = Lane(weights[k])
                for i in 0..<spanCount { acc[i] &+= Lane(src[i]) &* w }
            }
            for i in 0..<spanCount { out[i] = UInt8(truncatingIfNeeded: acc[i] &>> shift) }
        }
    }

    /// The horizontal pass over one blended row: every output pixel is a 4-byte load per tap
    /// (RGB + a spare lane) blended in four lanes, so one SIMD multiply-add does all three channels.
    @inline(__always)
    private static func blendColumns<Lane: FixedWidthInteger & UnsignedInteger & SIMDScalar>(
        _ row: UnsafeRawPointer, offsets: UnsafePointer<Int>, weights: UnsafePointer<UInt16>, taps: Int, lane: Lane.Type,
        bits: Int, width: Int, into out: UnsafeMutablePointer<UInt8>
    ) {
        // A constant tap count for the common filters (2 growing, up to 5 shrinking < 2x, what
        // DCT-scaled decoding leaves) lets the compiler unroll the tap loop.
        switch taps {
        case 1: blendColumns(row, offsets: offsets, weights: weights, fixedTaps: 1, lane: lane, bits: bits, width: width, into: out)
        case 2: blendColumns(row, offsets: offsets, weights: weights, fixedTaps: 2, lane: lane, bits: bits, width: width, into: out)
        case 3: blendColumns(row, offsets: offsets, weights: weights, fixedTaps: 3, lane: lane, bits: bits, width: width, into: out)
        case 4: blendColumns(row, offsets: offsets, weights: weights, fixedTaps: 4, lane: lane, bits: bits, width: width, into: out)
        case 5: blendColumns(row, offsets: offsets, weights: weights, fixedTaps: 5, lane: lane, bits: bits, width: width, into: out)
        default: blendColumns(row, offsets: offsets, weights: weights, fixedTaps: taps, lane: lane, bits: bits, width: width, into: out)
        }
    }

    /// The narrow (8-bit weight) horizontal pass, two output pixels per 8-lane multiply-add:
    /// the 4-lane pass spent more instructions broadcasting each weight than blending with it.
    /// The last pixel or two go through the 4-lane pass, which keeps every store inside the row.
    @inline(__always)
    private static func blendColumnPairs(
        _ row: UnsafeRawPointer, offsets: UnsafePointer<Int>, weights: UnsafePointer<UInt16>, pairs: UnsafePointer<SIMD8<UInt16>>,
        taps: Int, width: Int, into out: UnsafeMutablePointer<UInt8>
    ) {
        let paired = (width - 1) / 2
        switch taps {
        case 1: blendColumnPairs(row, offsets: offsets, pairs: pairs, fixedTaps: 1, count: paired, into: out)
        case 2: blendColumnPairs(row, offsets: offsets, pairs: pairs, fixedTaps: 2, count: paired, into: out)
        case 3: blendColumnPairs(row, offsets: offsets, pairs: pairs, fixedTaps: 3, count: paired, into: out)
        case 4: blendColumnPairs(row, offsets: offsets, pairs: pairs, fixedTaps: 4, count: paired, into: out)
        case 5: blendColumnPairs(row, offsets: offsets, pairs: pairs, fixedTaps: 5, count: paired, into: out)
        default: blendColumnPairs(row, offsets: offsets, pairs: pairs, fixedTaps: taps, count: paired, into: out)
        }
        let done = paired * 2
        blendColumns(row, offsets: offsets + done, weights: weights + done * taps, taps: taps, lane: UInt16.self, bits: 8,
                     width: width - done, into: out + done * 3)
    }

    @inline(__always)
    private static func blendColumnPairs(
        _ row: UnsafeRawPointer, offsets: UnsafePointer<Int>, pairs: UnsafePointer<SIMD8<UInt16>>, fixedTaps taps: Int, count: Int,
        into out: UnsafeMutablePointer<UInt8>
    ) {
        let half = SIMD8<UInt16>(repeating: 1 << 7)
        for p in 0..<count {
            let a = offsets[2 &* p], b = offsets[2 &* p &+ 1], w = pairs + p &* taps
            var sum = half
            for k in 0..<taps {
                // Both pixels' bytes through one 64-bit integer: built from two SIMD4 halves the
                // compiler inserts them a byte at a time.
                let left = UInt64(row.loadUnaligned(fromByteOffset: a &+ k &* 3, as: UInt32.self))
                let right = UInt64(row.loadUnaligned(fromByteOffset: b &+ k &* 3, as: UInt32.self))
                let bytes = unsafeBitCast(left | right &<< 32, to: SIMD8<UInt8>.self)
                sum &+= SIMD8<UInt16>(truncatingIfNeeded: bytes) &* w[k]
            }
            let pixels = unsafeBitCast(SIMD8<UInt8>(truncatingIfNeeded: sum &>> 8), to: UInt64.self)
            // 4-byte stores: each one's 4th byte is overwritten by the next pixel, and the row's
            // last pixel is never in a pair.
            let target = UnsafeMutableRawPointer(out + p &* 6)
            target.storeBytes(of: UInt32(truncatingIfNeeded: pixels), as: UInt32.self)
            (target + 3).storeBytes(of: UInt32(truncatingIfNeeded: pixels &>> 32), as: UInt32.self)
        }
    }

    @inline(__always)
    private static func blendColumns<Lane: FixedWidthInteger & UnsignedInteger & SIMDScalar>(
        _ row: UnsafeRawPointer, offsets: UnsafePointer<Int>, weights: UnsafePointer<UInt16>, fixedTaps taps: Int,
        lane: Lane.Type, bits: Int, width: Int, into out: UnsafeMutablePointer<UInt8>
    ) {
        let half = SIMD4<Lane>(repeating: Lane(1) << (bits - 1))
        @inline(__always) func pixel(_ x: Int) -> SIMD4<UInt8> {
            let base = offsets[x], w = weights + x &* taps
            var sum = half
            for k in 0..<taps {
                let p = SIMD4<Lane>(truncatingIfNeeded: row.loadUnaligned(fromByteOffset: base &+ k &* 3, as: SIMD4<UInt8>.self))
                sum &+= p &* SIMD4<Lane>(repeating: Lane(w[k]))
            }
            return SIMD4<UInt8>(truncatingIfNeeded: sum &>> SIMD4<Lane>(repeating: Lane(bits)))
        }
        for x in 0..<(width - 1) {
            // Writes 4 bytes; the 4th is the next pixel's red, overwritten next iteration.
            UnsafeMutableRawPointer(out + x &* 3).storeBytes(of: pixel(x), as: SIMD4<UInt8>.self)
        }
        let last = pixel(width - 1), tail = out + (width - 1) * 3
        tail[0] = last[0]
        tail[1] = last[1]
        tail[2] = last[2]
    }
}

/// One axis's filter: for every output position, its first source pixel and its weights
/// (`stride` per position, left-aligned, zero past its own tap count), computed once per render.
struct FilterTaps {
    /// First source index per output.
    var firsts: [Int] = []
    /// `(first - lowest) * 3`: where each output's taps start in a packed RGB span from `lowest`.
    var byteOffsets: [Int] = []
    var counts: [Int] = []
    var weights: [UInt16] = []
    var stride = 1
    /// The smallest and largest source index any output uses.
    var lowest = 0
    var highest = 0
    private var exact: [Double] = []

    /// The most taps PIL's filter can have for this scale (`ceil(support) * 2 + 1`).
    static func taps(length: Double, virtual: Int) -> Int {
        Int(max(length / Double(virtual), 1).rounded(.up)) * 2 + 1
    }

    /// The source pixels whose centres lie inside `origin ..< origin + length` (at least one).
    static func bounds(origin: Double, length: Double, limit: Int) -> Range<Int> {
        let lo = max(0, Int((origin - 0.5).rounded(.up)))
        let hi = min(limit, Int((origin + length - 0.5).rounded(.up)))
        if hi > lo { return lo..<hi }
        let nearest = min(max(Int(origin.rounded(.down)), 0), limit - 1)
        return nearest..<(nearest + 1)
    }

    /// PIL's `precompute_coeffs` for virtual positions `first ..< first + count`, clamped to
    /// the region, quantised to `bits`-bit weights that sum to exactly `1 << bits` (so a flat
    /// image stays flat).
    mutating func compute(origin: Double, length: Double, virtual: Int, first: Int, count: Int, limit: Int, bits: Int,
                          flip: Bool) {
        let scale = length / Double(virtual), filterScale = max(scale, 1), support = filterScale
        // Multiplications by reciprocals, as PIL's `precompute_coeffs` does (`ss = 1.0 / filterscale`),
        // not two divisions per tap: this function is a tenth of a raw pixel-cache train epoch.
        let inverseScale = 1 / filterScale
        let inside = Self.bounds(origin: origin, length: length, limit: limit)
        stride = min(Self.taps(length: length, virtual: virtual), inside.count)
        let one = 1 << bits
        if firsts.count < count {
            firsts = [Int](repeating: 0, count: count)
            byteOffsets = [Int](repeating: 0, count: count)
            counts = [Int](repeating: 0, count: count)
        }
        if weights.count < count * stride { weights = [UInt16](repeating: 0, count: count * stride) }
        if exact.count < stride { exact = [Double](repeating: 0, count: stride) }
        lowest = Int.max
        highest = 0
        for i in 0..<count {
            let centre = origin + (Double(first + i) + 0.5) * scale
            var low = max(Int((centre - support + 0.5).rounded(.down)), inside.lowerBound)
            var high = min(Int((centre + support + 0.5).rounded(.down)), inside.upperBound)
            if high <= low {
                low = min(max(Int(centre.rounded(.down)), inside.lowerBound), inside.upperBound - 1)
                high = low + 1
            }
            high = min(high, low + stride)
            var total = 0.0
            for k in 0..<(high - low) {
                let w = max(0, 1 - abs((Double(low + k) - centre + 0.5) * inverseScale))
                exact[k] = w
                total += w
            }
            let out = flip ? count - 1 - i : i
            let w = out * stride
            for k in 0..<stride { weights[w + k] = 0 }
            if total <= 0 {
                // Only possible at a region narrower than a pixel: take the nearest pixel.
                weights[w] = UInt16(one)
                high = low + 1
            } else {
                var sum = 0, largest = 0
                let unit = Double(one) / total
                for k in 0..<(high - low) {
                    let q = Int((exact[k] * unit).rounded())
                    weights[w + k] = UInt16(q)
                    sum += q
                    if q > Int(weights[w + largest]) { largest = k }
                }
                weights[w + largest] = UInt16(Int(weights[w + largest]) + one - sum)
                // Drop zero-weight taps at the ends: the vertical pass pays for every row it reads.
                var lead = 0
                while lead < high - low - 1 && weights[w + lead] == 0 { lead += 1 }
                if lead > 0 {
                    for k in 0..<(high - low - lead) { weights[w + k] = weights[w + k + lead] }
                    for k in (high - low - lead)..<(high - low) { weights[w + k] = 0 }
                    low += lead
                }
                while high - low > 1 && weights[w + high - low - 1] == 0 { high -= 1 }
            }
            firsts[out] = low
            counts[out] = high - low
            lowest = min(lowest, low)
            highest = max(highest, high - 1)
        }
        for i in 0..<count { byteOffsets[i] = (firsts[i] - lowest) * 3 }
        // PIL's bound is one tap wider than a triangle ever uses (growing: 3 for 2): repack to
        // the widest actual filter, since the horizontal pass runs every one of `stride` taps.
        let used = counts[0..<count].max() ?? 1
        if used < stride {
            for i in 0..<count {
                for k in 0..<used { weights[i * used + k] = weights[i * stride + k] }
            }
            stride = used
        }
    }

    /// ``Resampler/pairWeights``'s layout of the first `count` outputs' weights.
    func pairWeights(into pairs: inout [SIMD8<UInt16>], count: Int) {
        let needed = (count / 2) * stride
        if pairs.count < needed { pairs = [SIMD8<UInt16>](repeating: .zero, count: needed) }
        for p in 0..<(count / 2) {
            for k in 0..<stride {
                let left = weights[2 * p * stride + k], right = weights[(2 * p + 1) * stride + k]
                pairs[p * stride + k] = SIMD8(lowHalf: SIMD4(repeating: left), highHalf: SIMD4(repeating: right))
            }
        }
    }

    /// Whether output rows `a` and `b` blend the same source rows with the same weights.
    func sameTaps(_ a: Int, as b: Int) -> Bool {
        guard firsts[a] == firsts[b], counts[a] == counts[b] else { return false }
        for k in 0..<counts[a] where weights[a * stride + k] != weights[b * stride + k] { return false }
        return true
    }
}
