import LoomImage

/// Turns one encoded image into `size x size` RGB pixels: DCT-scaled decode of the crop's region
/// alone, resize, flip.
///
/// One per worker thread (it owns a libjpeg-turbo handle and scratch buffers that grow to the
/// largest image seen and are then reused: no allocation per sample in steady state).
public final class SampleRenderer {
    public let spec: TransformSpec
    private let jpeg: JPEGDecoder
    private let region: JPEGRegionDecoder
    private let resampler = Resampler()
    private var decoded: [UInt8] = []
    private var cmyk: [UInt8] = []

    public init(spec: TransformSpec) throws {
        self.spec = spec
        jpeg = try JPEGDecoder()
        region = try JPEGRegionDecoder()
    }

    /// Renders an encoded JPEG or PNG into `destination` (`spec.sampleBytes` bytes).
    /// - Parameter rng: the sample's own generator (crop and flip for `.train`; unused for `.eval`).
    public func render(encoded: UnsafeRawBufferPointer, rng: inout SplitMix64, into destination: UnsafeMutablePointer<UInt8>) throws {
        try decode(encoded, rng: &rng) { source, width, height, plan in
            resampler.render(
                source: source, sourceWidth: width, sourceHeight: height, region: plan.scaledRegion,
                virtualWidth: plan.plan.virtualWidth, virtualHeight: plan.plan.virtualHeight,
                windowX: plan.plan.windowX, windowY: plan.plan.windowY, windowWidth: spec.size, windowHeight: spec.size,
                flip: plan.plan.flip, sourceWindow: plan.window, destination: destination)
        }
    }

    /// Renders from a pixel-cache image (RGB8, the evaluation resize of the original).
    public func render(cached source: UnsafePointer<UInt8>, width: Int, height: Int, rng: inout SplitMix64,
                       into destination: UnsafeMutablePointer<UInt8>) {
        let plan = makePlan(width: width, height: height, rng: &rng)
        resampler.render(
            source: source, sourceWidth: width, sourceHeight: height,
            region: ResampleRegion(x: plan.region.x, y: plan.region.y, width: plan.region.width, height: plan.region.height),
            virtualWidth: plan.virtualWidth, virtualHeight: plan.virtualHeight, windowX: plan.windowX, windowY: plan.windowY,
            windowWidth: spec.size, windowHeight: spec.size, flip: plan.flip, destination: destination)
    }

    /// The crop and flip ``render(encoded:rng:into:)`` applies to this image, in its own pixels
    /// (from its header alone: nothing is decoded).
    public func choice(encoded: UnsafeRawBufferPointer, rng: inout SplitMix64) throws -> CropChoice {
        let (width, height) = try imageSize(encoded)
        return makePlan(width: width, height: height, rng: &rng).choice(width: width, height: height, augment: spec.augment)
    }

    /// The crop and flip ``render(cached:width:height:rng:into:)`` applies to a cache image of
    /// `cachedWidth x cachedHeight`, mapped onto the `originalWidth x originalHeight` original.
    public func choice(cachedWidth: Int, cachedHeight: Int, originalWidth: Int, originalHeight: Int,
                       rng: inout SplitMix64) -> CropChoice {
        let plan = makePlan(width: cachedWidth, height: cachedHeight, rng: &rng)
        let sx = Double(originalWidth) / Double(cachedWidth), sy = Double(originalHeight) / Double(cachedHeight)
        var choice = plan.choice(width: originalWidth, height: originalHeight, augment: spec.augment)
        choice.left = plan.region.x * sx
        choice.top = plan.region.y * sy
        choice.width = plan.region.width * sx
        choice.height = plan.region.height * sy
        choice.from = .pixelCache
        choice.cache = .init(imageWidth: cachedWidth, imageHeight: cachedHeight, top: Int(plan.region.y), left: Int(plan.region.x),
                             height: Int(plan.region.height), width: Int(plan.region.width))
        return choice
    }

    /// Width and height from a JPEG or PNG header.
    public func imageSize(_ encoded: UnsafeRawBufferPointer) throws -> (width: Int, height: Int) {
        switch try ImageFormat.sniff(encoded) {
        case .jpeg:
            let header = try jpeg.readHeader(encoded)
            return (header.width, header.height)
        case .png:
            let info = try PNGCodec.readHeader(encoded)
            return (info.width, info.height)
        }
    }

    /// The whole evaluation-resized image (short side `spec.evalResize`): what the pixel cache stores.
    public func renderCacheImage(encoded: UnsafeRawBufferPointer) throws -> (width: Int, height: Int, pixels: [UInt8]) {
        var rng = SplitMix64(seed: 0)
        var result: (Int, Int, [UInt8]) = (0, 0, [])
        let evalSpec = TransformSpec(size: spec.size, augment: .eval, evalCropFraction: spec.evalCropFraction)
        try decode(encoded, rng: &rng, specOverride: evalSpec) { source, width, height, plan in
            let vw = plan.plan.virtualWidth, vh = plan.plan.virtualHeight
            var pixels = [UInt8](repeating: 0, count: vw * vh * 3)
            pixels.withUnsafeMutableBufferPointer { out in
                resampler.render(
                    source: source, sourceWidth: width, sourceHeight: height, region: plan.scaledRegion,
                    virtualWidth: vw, virtualHeight: vh, windowX: 0, windowY: 0, windowWidth: vw, windowHeight: vh,
                    sourceWindow: plan.window, destination: out.baseAddress!)
            }
            result = (vw, vh, pixels)
        }
        return result
    }

    struct ScaledPlan {
        var plan: CropPlan
        /// The crop in the scaled image's coordinates.
        var scaledRegion: ResampleRegion
        /// Where the decoded pixels sit in the scaled image, when only the crop's region was decoded.
        var window: SourceWindow? = nil
    }

    /// Decodes the crop's region at the smallest DCT scale that still gives it enough pixels,
    /// then calls `body` with the decoded RGB pixels and the plan in scaled coordinates.
    private func decode(
        _ encoded: UnsafeRawBufferPointer, rng: inout SplitMix64, specOverride: TransformSpec? = nil,
        _ body: (UnsafePointer<UInt8>, Int, Int, ScaledPlan) throws -> Void
    ) throws {
        let spec = specOverride ?? self.spec
        switch try ImageFormat.sniff(encoded) {
        case .jpeg:
            let header = try jpeg.readHeader(encoded)
            try DecodeLimits.default.check(width: header.width, height: header.height, format: .jpeg)
            let plan = makePlan(width: header.width, height: header.height, rng: &rng, spec: spec)
            let scale = Self.decodeScale(for: plan, width: header.width, height: header.height)
            let width = scale.scaled(header.width), height = scale.scaled(header.height)
            let scaled = Self.scaledRegion(plan, scale: scale)
            if header.colorSpace != .cmyk {
                let rect = Self.regionBounds(scaled, width: width, height: height)
                let capacity = JPEGRegionDecoder.capacity(width: rect.width, height: rect.height)
                if decoded.count < capacity { decoded = [UInt8](repeating: 0, count: capacity) }
                let got = try decoded.withUnsafeMutableBytes { buffer in
                    try region.decode(encoded, scale: scale, scaledWidth: width, scaledHeight: height, covering: rect, into: buffer)
                }
                if let got {
                    let window = SourceWindow(left: got.left, top: got.top, imageWidth: width, imageHeight: height)
                    try decoded.withUnsafeBufferPointer {
                        try body($0.baseAddress!, got.width, got.height, ScaledPlan(plan: plan, scaledRegion: scaled, window: window))
                    }
                    return
                }
            }
            if decoded.count < width * height * 3 { decoded = [UInt8](repeating: 0, count: width * height * 3) }
            try decoded.withUnsafeMutableBytes { buffer in
                try jpeg.decodeRGB(encoded, header: header, scale: scale, into: buffer, scratch: &cmyk)
            }
            try decoded.withUnsafeBufferPointer { try body($0.baseAddress!, width, height, ScaledPlan(plan: plan, scaledRegion: scaled)) }
        case .png:
            let info = try PNGCodec.readHeader(encoded)
            try DecodeLimits.default.check(width: info.width, height: info.height, format: .png)
            if decoded.count < info.pixelCount * 3 { decoded = [UInt8](repeating: 0, count: info.pixelCount * 3) }
            try decoded.withUnsafeMutableBytes { buffer in _ = try PNGCodec.decodeRGB(encoded, into: buffer) }
            let plan = makePlan(width: info.width, height: info.height, rng: &rng, spec: spec)
            let region = ResampleRegion(x: plan.region.x, y: plan.region.y, width: plan.region.width, height: plan.region.height)
            try decoded.withUnsafeBufferPointer {
                try body($0.baseAddress!, info.width, info.height, ScaledPlan(plan: plan, scaledRegion: region))
            }
        }
    }

    /// The smallest SIMD-accelerated DCT scale at which the plan's source region still has at
    /// least as many pixels as its output needs (never upscaling inside the decoder).
    static func decodeScale(for plan: CropPlan, width: Int, height: Int) -> JPEGScale {
        let minWidth = Int((Double(width) * Double(plan.virtualWidth) / plan.region.width).rounded(.up))
        let minHeight = Int((Double(height) * Double(plan.virtualHeight) / plan.region.height).rounded(.up))
        return JPEGScale.smallest(covering: minWidth, minHeight, width: width, height: height, among: JPEGScale.accelerated)
    }

    /// The plan's crop in the coordinates of the image decoded at `scale`. The scaled decode turns
    /// each 8x8 block into 8 * numerator / denominator pixels, so original x maps to
    /// x * numerator / denominator exactly (the size rounds up: a last pixel can be partly
    /// padding, and lies outside every region then).
    static func scaledRegion(_ plan: CropPlan, scale: JPEGScale) -> ResampleRegion {
        let factor = Double(scale.numerator) / Double(scale.denominator)
        return ResampleRegion(x: plan.region.x * factor, y: plan.region.y * factor,
                              width: plan.region.width * factor, height: plan.region.height * factor)
    }

    /// Every pixel whose centre lies inside `region` (the resampler's taps never leave it), in a
    /// `width x height` image.
    static func regionBounds(_ region: ResampleRegion, width: Int, height: Int) -> PixelRect {
        let left = max(0, Int(region.x.rounded(.down))), top = max(0, Int(region.y.rounded(.down)))
        let right = min(width, Int((region.x + region.width).rounded(.up)))
        let bottom = min(height, Int((region.y + region.height).rounded(.up)))
        return PixelRect(left: left, top: top, width: right - left, height: bottom - top)
    }

    /// The DCT scale the loader decodes a `width x height` JPEG at for this sample's generator,
    /// and the rectangle of the scaled image it decodes (`bench decode` measures the decode-only
    /// limit at the loader's own scales and regions with these).
    public func plannedDecode(width: Int, height: Int, rng: inout SplitMix64) -> (scale: JPEGScale, region: PixelRect) {
        let plan = makePlan(width: width, height: height, rng: &rng)
        let scale = Self.decodeScale(for: plan, width: width, height: height)
        return (scale, Self.regionBounds(Self.scaledRegion(plan, scale: scale), width: scale.scaled(width), height: scale.scaled(height)))
    }

    private func makePlan(width: Int, height: Int, rng: inout SplitMix64, spec: TransformSpec? = nil) -> CropPlan {
        let spec = spec ?? self.spec
        switch spec.augment {
        case .train: return CropPlan.randomResizedCrop(width: width, height: height, spec: spec, rng: &rng)
        case .eval: return CropPlan.evaluation(width: width, height: height, size: spec.size, resize: spec.evalResize)
        }
    }
}
