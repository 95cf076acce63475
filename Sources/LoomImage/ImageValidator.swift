/// Proves that encoded bytes are an image Loom can decode, and learns its size.
///
/// JPEGs are decoded at the smallest DCT scale (1/8): Huffman decoding still reads every bit of
/// every scan, so truncation and most scan corruption are found at about twice the speed of a
/// full decode. (JPEG carries no checksum: damage that keeps the Huffman decoder in step decodes
/// to wrong pixels without any warning, in libjpeg-turbo as in Pillow. From ingest on, the
/// shard's per-record CRC-32 and SHA-256 guard the bytes.) PNGs are decoded in full (PNG has no reduced decode; they are small here).
/// One validator per thread: it owns a libjpeg-turbo handle and a reusable scratch buffer.
public final class ImageValidator {
    public let limits: DecodeLimits
    private let jpeg: JPEGDecoder
    private var scratch: [UInt8] = []

    /// Scratch above this size is released after use, so one huge image does not pin memory.
    private static let retainedScratch = 16 << 20

    public init(limits: DecodeLimits = .default) throws {
        self.limits = limits
        self.jpeg = try JPEGDecoder()
    }

    /// Sniffs, reads the header, applies `limits` and decodes.
    /// - Throws: `ImageError` whose `reason` says what is wrong with the bytes.
    public func validate(_ bytes: UnsafeRawBufferPointer) throws -> ImageInfo {
        let format = try ImageFormat.sniff(bytes)
        defer { if scratch.count > Self.retainedScratch { scratch = [] } }
        switch format {
        case .jpeg:
            let header = try jpeg.readHeader(bytes)
            try limits.check(width: header.width, height: header.height, format: .jpeg)
            let scale = JPEGScale.supported.first ?? .full
            let layout: PixelLayout = header.colorSpace == .cmyk ? .cmyk : .gray
            let needed = scale.scaled(header.width) * scale.scaled(header.height) * layout.channels
            if scratch.count < needed { scratch = [UInt8](repeating: 0, count: needed) }
            try scratch.withUnsafeMutableBytes { (buffer) in
                try jpeg.decode(bytes, header: header, scale: scale, layout: layout, into: buffer)
            }
            return ImageInfo(format: .jpeg, width: header.width, height: header.height, colorSpace: header.colorSpace)
        case .png:
            let info = try PNGCodec.readHeader(bytes, limits: limits)
            try limits.check(width: info.width, height: info.height, format: .png)
            let needed = info.pixelCount * 3
            if scratch.count < needed { scratch = [UInt8](repeating: 0, count: needed) }
            return try scratch.withUnsafeMutableBytes { (buffer) in
                try PNGCodec.decodeRGB(bytes, into: buffer, limits: limits)
            }
        }
    }
}
