import LoomImage
import LoomTestSupport
import Testing

/// Every fixture the image tests use, by name, so tables read as data.
enum Fixture: String, CaseIterable, Sendable, CustomTestStringConvertible {
    case baselineJPEG, jpeg444, oddSizeJPEG, grayJPEG, cmykJPEG, progressiveJPEG, rgbPNG, grayPNG
    case truncatedJPEG, corruptScanJPEG, hugeHeaderJPEG, headerOnlyJPEG, truncatedPNG, corruptPNG
    case text, empty, gif, webp, bmp

    var bytes: [UInt8] {
        switch self {
        case .baselineJPEG: FixtureImages.jpeg(width: 96, height: 72)
        case .jpeg444: FixtureImages.jpeg(width: 80, height: 64, quality: 95, subsampling: .s444)
        case .oddSizeJPEG: FixtureImages.jpeg(width: 101, height: 67, seed: 7)
        case .grayJPEG: FixtureImages.grayJPEG(width: 90, height: 70)
        case .cmykJPEG: FixtureImages.cmykJPEG(width: 72, height: 56)
        case .progressiveJPEG: FixtureImages.progressiveJPEG(width: 120, height: 90)
        case .rgbPNG: FixtureImages.png(width: 50, height: 40, channels: 3)
        case .grayPNG: FixtureImages.png(width: 45, height: 33, channels: 1)
        case .truncatedJPEG: FixtureImages.truncatedJPEG()
        case .corruptScanJPEG: FixtureImages.corruptScanJPEG()
        case .hugeHeaderJPEG: FixtureImages.hugeHeaderJPEG()
        case .headerOnlyJPEG:
            // SOI and the first segments only: the frame header is never reached.
            Array(FixtureImages.jpeg().prefix(40))
        case .truncatedPNG: FixtureImages.truncatedPNG()
        case .corruptPNG: FixtureImages.corruptPNG()
        case .text: FixtureImages.textFile
        case .empty: []
        case .gif: FixtureImages.gifFile
        case .webp: FixtureImages.webpFile
        case .bmp: FixtureImages.bmpFile
        }
    }

    var testDescription: String { rawValue }
}

/// Validates `bytes` with a fresh validator.
func validate(_ bytes: [UInt8], limits: DecodeLimits = .default) throws -> ImageInfo {
    let validator = try ImageValidator(limits: limits)
    return try bytes.withUnsafeBytes { try validator.validate($0) }
}

/// Sniffs `bytes`.
func sniff(_ bytes: [UInt8]) throws -> ImageFormat {
    try bytes.withUnsafeBytes { try ImageFormat.sniff($0) }
}

/// Reads a JPEG header.
func jpegHeader(_ bytes: [UInt8]) throws -> JPEGHeader {
    let decoder = try JPEGDecoder()
    return try bytes.withUnsafeBytes { try decoder.readHeader($0) }
}

extension JPEGHeader {
    /// The header's fields as a tuple, to compare in one `#expect` (JPEGHeader has no public initializer).
    var summary: (width: Int, height: Int, colorSpace: ImageInfo.ColorSpace) { (width, height, colorSpace) }
}

/// A decoded picture: packed pixels and their size.
struct Picture {
    var pixels: [UInt8]
    var width: Int
    var height: Int
}

/// Decodes a JPEG to packed RGB at `scale` through `JPEGDecoder.decodeRGB`.
func decodeJPEG(_ bytes: [UInt8], scale: JPEGScale = .full) throws -> Picture {
    let decoder = try JPEGDecoder()
    return try bytes.withUnsafeBytes { (buffer) in
        let header = try decoder.readHeader(buffer)
        let width = scale.scaled(header.width), height = scale.scaled(header.height)
        var pixels = [UInt8](repeating: 0, count: width * height * 3)
        var scratch: [UInt8] = []
        try pixels.withUnsafeMutableBytes { (destination) in
            try decoder.decodeRGB(buffer, header: header, scale: scale, into: destination, scratch: &scratch)
        }
        return Picture(pixels: pixels, width: width, height: height)
    }
}

/// Decodes a PNG to packed RGB.
func decodePNG(_ bytes: [UInt8]) throws -> (info: ImageInfo, pixels: [UInt8]) {
    try bytes.withUnsafeBytes { (buffer) in
        let header = try PNGCodec.readHeader(buffer)
        var pixels = [UInt8](repeating: 0, count: header.pixelCount * 3)
        let info = try pixels.withUnsafeMutableBytes { try PNGCodec.decodeRGB(buffer, into: $0) }
        return (info, pixels)
    }
}

/// The mean absolute difference of two equally long sample arrays.
func meanAbsoluteError(_ a: [UInt8], _ b: [UInt8]) -> Double {
    precondition(a.count == b.count && !a.isEmpty, "compared arrays differ in length: \(a.count) vs \(b.count)")
    var total = 0
    for i in a.indices { total += abs(Int(a[i]) - Int(b[i])) }
    return Double(total) / Double(a.count)
}

/// Averages `factor x factor` blocks (clipped at the right and bottom edges), giving a
/// `ceil(width / factor) x ceil(height / factor)` picture: what a 1/`factor` DCT decode approximates.
func boxDownsample(_ pixels: [UInt8], width: Int, height: Int, channels: Int, factor: Int) -> [UInt8] {
    let outWidth = (width + factor - 1) / factor, outHeight = (height + factor - 1) / factor
    var out = [UInt8](repeating: 0, count: outWidth * outHeight * channels)
    for oy in 0..<outHeight {
        for ox in 0..<outWidth {
            for c in 0..<channels {
                var sum = 0, count = 0
                for y in (oy * factor)..<min(height, oy * factor + factor) {
                    for x in (ox * factor)..<min(width, ox * factor + factor) {
                        sum += Int(pixels[(y * width + x) * channels + c])
                        count += 1
                    }
                }
                out[(oy * outWidth + ox) * channels + c] = UInt8((sum + count / 2) / count)
            }
        }
    }
    return out
}
