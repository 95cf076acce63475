import Foundation
import LoomImage

/// `builtin:stats`: an offline stand-in for a captioning model. It does not recognise anything;
/// it describes what can be measured of the pixels: brightness, contrast, the dominant colour,
/// orientation and size, e.g. "a bright, low-contrast, mostly blue square image (64x64 pixels)".
///
/// Deterministic: the same bytes always give the same caption. Named `loom-builtin-stats` so its
/// captions are never mistaken for a model's.
public final class StatsCaptioner: Captioner {
    public let name = "loom-builtin-stats"
    public let version = "1"
    public let params: [String: String] = [:]
    public let backend = "builtin:stats"
    private let decoder: JPEGDecoder

    public init() throws { decoder = try JPEGDecoder() }

    public func caption(_ batch: [CaptionInput]) -> [Result<String, any Error>] {
        batch.map { input in Result { try caption(bytes: input.bytes) } }
    }

    public func caption(bytes: [UInt8]) throws -> String {
        let (pixels, width, height, fullWidth, fullHeight) = try bytes.withUnsafeBytes { raw in
            try decodeRGB(raw)
        }
        return Self.describe(ImageStats(rgb: pixels, width: width, height: height), width: fullWidth, height: fullHeight)
    }

    /// Packed RGB (scaled down in the JPEG decoder where it can be), its size, and the full size.
    private func decodeRGB(_ raw: UnsafeRawBufferPointer) throws -> ([UInt8], Int, Int, Int, Int) {
        switch try ImageFormat.sniff(raw) {
        case .jpeg:
            let header = try decoder.readHeader(raw)
            try DecodeLimits.default.check(width: header.width, height: header.height, format: .jpeg)
            let scale = JPEGScale.smallest(covering: 64, 64, width: header.width, height: header.height,
                                           among: JPEGScale.accelerated.sorted())
            let w = scale.scaled(header.width), h = scale.scaled(header.height)
            var pixels = [UInt8](repeating: 0, count: w * h * 3)
            var scratch: [UInt8] = []
            try pixels.withUnsafeMutableBytes { out in
                try decoder.decodeRGB(raw, header: header, scale: scale, into: out, scratch: &scratch)
            }
            return (pixels, w, h, header.width, header.height)
        case .png:
            let info = try PNGCodec.readHeader(raw)
            var pixels = [UInt8](repeating: 0, count: info.width * info.height * 3)
            try pixels.withUnsafeMutableBytes { out in _ = try PNGCodec.decodeRGB(raw, into: out) }
            return (pixels, info.width, info.height, info.width, info.height)
        }
    }

    static func describe(_ stats: ImageStats, width: Int, height: Int) -> String {
        let brightness = switch stats.meanLuma {
        case ..<60: "dark"
        case ..<110: "dim"
        case ..<170: "moderately bright"
        default: "bright"
        }
        let contrast = switch stats.lumaDeviation {
        case ..<30: "low-contrast"
        case ..<60: "medium-contrast"
        default: "high-contrast"
        }
        let amount = stats.dominantShare >= 0.5 ? "mostly" : "partly"
        let shape: String
        if abs(width - height) * 20 <= max(width, height) {
            shape = "square"
        } else {
            shape = width > height ? "landscape" : "portrait"
        }
        return "a \(brightness), \(contrast), \(amount) \(stats.dominantColor) \(shape) image (\(width)x\(height) pixels)"
    }
}

/// Pixel statistics of packed RGB: BT.601 luma mean and deviation, and the most common colour name.
struct ImageStats {
    var meanLuma: Double
    var lumaDeviation: Double
    var dominantColor: String
    /// Share of pixels that carry the dominant colour name.
    var dominantShare: Double

    init(rgb: [UInt8], width: Int, height: Int) {
        let count = max(1, width * height)
        var sum = 0.0, sumSquares = 0.0
        var counts: [String: Int] = [:]
        for i in 0..<(width * height) {
            let r = Double(rgb[i * 3]), g = Double(rgb[i * 3 + 1]), b = Double(rgb[i * 3 + 2])
            let luma = 0.299 * r + 0.587 * g + 0.114 * b
            sum += luma
            sumSquares += luma * luma
            counts[Self.colorName(r: r, g: g, b: b), default: 0] += 1
        }
        meanLuma = sum / Double(count)
        lumaDeviation = max(0, sumSquares / Double(count) - meanLuma * meanLuma).squareRoot()
        // Ties broken by name, so the caption never depends on dictionary order.
        let best = counts.max { a, b in a.value != b.value ? a.value < b.value : a.key > b.key }
        dominantColor = best?.key ?? "black"
        dominantShare = Double(best?.value ?? 0) / Double(count)
    }

    /// A basic colour name from hue, saturation and value.
    static func colorName(r: Double, g: Double, b: Double) -> String {
        let maxC = max(r, g, b), minC = min(r, g, b)
        let value = maxC / 255, delta = maxC - minC
        let saturation = maxC > 0 ? delta / maxC : 0
        if value < 0.18 { return "black" }
        if saturation < 0.2 {
            return value > 0.85 ? "white" : "gray"
        }
        var hue: Double
        if maxC == r {
            hue = 60 * ((g - b) / delta)
        } else if maxC == g {
            hue = 60 * ((b - r) / delta + 2)
        } else {
            hue = 60 * ((r - g) / delta + 4)
        }
        if hue < 0 { hue += 360 }
        switch hue {
        case ..<15: return "red"
        case ..<45: return value < 0.6 ? "brown" : "orange"
        case ..<70: return "yellow"
        case ..<165: return "green"
        case ..<200: return "cyan"
        case ..<260: return "blue"
        case ..<290: return "purple"
        case ..<345: return "pink"
        default: return "red"
        }
    }
}
