/// What validation learned about an encoded image.
public struct ImageInfo: Equatable, Sendable, Codable {
    /// How the source stores colour; the loader turns every one of them into RGB.
    public enum ColorSpace: String, Sendable, Codable {
        case gray, rgb, cmyk
        case grayAlpha = "gray-alpha"
        case rgba
    }

    public var format: ImageFormat
    public var width: Int
    public var height: Int
    public var colorSpace: ColorSpace

    public init(format: ImageFormat, width: Int, height: Int, colorSpace: ColorSpace) {
        self.format = format
        self.width = width
        self.height = height
        self.colorSpace = colorSpace
    }

    public var pixelCount: Int { width * height }
}

/// Limits that keep a hostile or broken file from exhausting memory.
public struct DecodeLimits: Sendable, Equatable {
    /// Largest accepted `width * height`. The default is Pillow's `MAX_IMAGE_PIXELS`
    /// (89,478,485), so a file Pillow refuses as a decompression bomb is refused here too.
    public var maxPixels: Int
    /// Largest accepted side, for formats whose decoders allocate per row.
    public var maxSide: Int

    public init(maxPixels: Int = 89_478_485, maxSide: Int = 65_535) {
        self.maxPixels = maxPixels
        self.maxSide = maxSide
    }

    public static let `default` = DecodeLimits()

    public func check(width: Int, height: Int, format: ImageFormat) throws {
        guard width > 0, height > 0 else {
            throw ImageError(.badHeader, "\(format.rawValue.uppercased()) header gives a size of \(width)x\(height)")
        }
        guard width <= maxSide, height <= maxSide, width * height <= maxPixels else {
            throw ImageError(
                .tooLarge,
                "image claims \(width)x\(height) = \(width * height) pixels, over the limit of \(maxPixels) (decompression bomb guard)")
        }
    }
}
