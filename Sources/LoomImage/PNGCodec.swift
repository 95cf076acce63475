internal import CSPNG
import Glibc

/// PNG decode and encode through libspng (Debian's `libspng-dev`).
public enum PNGCodec {
    /// Largest chunk libspng may buffer, so a crafted file cannot make it allocate gigabytes
    /// for metadata (`spng_set_chunk_limits`).
    static let chunkLimit = 32 << 20

    /// Reads the IHDR chunk.
    public static func readHeader(_ bytes: UnsafeRawBufferPointer, limits: DecodeLimits = .default) throws -> ImageInfo {
        try withDecoder(bytes, limits: limits) { (ctx) in try header(ctx) }
    }

    /// Decodes to packed RGB (alpha dropped, 16-bit reduced, palette expanded).
    /// - Returns: the image's header; `destination` must hold `width * height * 3` bytes.
    @discardableResult
    public static func decodeRGB(
        _ bytes: UnsafeRawBufferPointer, into destination: UnsafeMutableRawBufferPointer,
        limits: DecodeLimits = .default
    ) throws -> ImageInfo {
        try withDecoder(bytes, limits: limits) { (ctx) in
            let info = try header(ctx)
            var size = 0
            try check(spng_decoded_image_size(ctx, Int32(SPNG_FMT_RGB8.rawValue), &size), .badHeader, "PNG")
            guard destination.count >= size else {
                throw ImageError(.invalidRequest, "PNG decode buffer of \(destination.count) bytes is smaller than \(size)")
            }
            try check(
                spng_decode_image(ctx, destination.baseAddress, size, Int32(SPNG_FMT_RGB8.rawValue), 0),
                .corruptData, "corrupt or truncated PNG data")
            return info
        }
    }

    /// Encodes 8-bit gray (1 channel) or RGB (3 channels) pixels as a PNG file.
    public static func encode(_ pixels: UnsafeRawBufferPointer, width: Int, height: Int, channels: Int) throws -> [UInt8] {
        guard channels == 1 || channels == 3, width > 0, height > 0, pixels.count >= width * height * channels else {
            throw ImageError(.invalidRequest, "PNG encode needs 1 or 3 channels and \(width * height * channels) bytes")
        }
        guard let ctx = spng_ctx_new(Int32(SPNG_CTX_ENCODER.rawValue)) else {
            throw ImageError(.encodeFailed, "libspng: cannot create an encoder")
        }
        defer { spng_ctx_free(ctx) }
        var ihdr = spng_ihdr()
        ihdr.width = UInt32(width)
        ihdr.height = UInt32(height)
        ihdr.bit_depth = 8
        ihdr.color_type = UInt8(channels == 1 ? SPNG_COLOR_TYPE_GRAYSCALE.rawValue : SPNG_COLOR_TYPE_TRUECOLOR.rawValue)
        try check(spng_set_option(ctx, SPNG_ENCODE_TO_BUFFER, 1), .encodeFailed, "PNG encode")
        try check(spng_set_ihdr(ctx, &ihdr), .encodeFailed, "PNG encode")
        try check(
            spng_encode_image(ctx, pixels.baseAddress, width * height * channels, Int32(SPNG_FMT_PNG.rawValue),
                              Int32(SPNG_ENCODE_FINALIZE.rawValue)),
            .encodeFailed, "PNG encode")
        var length = 0, error: Int32 = 0
        guard let buffer = spng_get_png_buffer(ctx, &length, &error) else {
            throw ImageError(.encodeFailed, "PNG encode: \(String(cString: spng_strerror(error)))")
        }
        defer { free(buffer) }
        return [UInt8](UnsafeRawBufferPointer(start: buffer, count: length))
    }

    private static func withDecoder<T>(
        _ bytes: UnsafeRawBufferPointer, limits: DecodeLimits, _ body: (OpaquePointer) throws -> T
    ) throws -> T {
        guard let ctx = spng_ctx_new(0) else { throw ImageError(.invalidRequest, "libspng: cannot create a decoder") }
        defer { spng_ctx_free(ctx) }
        let side = UInt32(min(limits.maxSide, Int(UInt32.max >> 1)))
        _ = spng_set_image_limits(ctx, side, side)
        _ = spng_set_chunk_limits(ctx, chunkLimit, chunkLimit)
        try check(spng_set_png_buffer(ctx, bytes.baseAddress, bytes.count), .badHeader, "PNG")
        let info = try body(ctx)
        return info
    }

    private static func header(_ ctx: OpaquePointer) throws -> ImageInfo {
        var ihdr = spng_ihdr()
        let status = spng_get_ihdr(ctx, &ihdr)
        if status == Int32(SPNG_EWIDTH.rawValue) || status == Int32(SPNG_EHEIGHT.rawValue)
            || status == Int32(SPNG_EUSER_WIDTH.rawValue) || status == Int32(SPNG_EUSER_HEIGHT.rawValue) {
            throw ImageError(.tooLarge, "PNG header gives a size over the limit (\(String(cString: spng_strerror(status))))")
        }
        try check(status, .badHeader, "unreadable PNG header")
        let space: ImageInfo.ColorSpace
        switch UInt32(ihdr.color_type) {
        case SPNG_COLOR_TYPE_GRAYSCALE.rawValue: space = .gray
        case SPNG_COLOR_TYPE_GRAYSCALE_ALPHA.rawValue: space = .grayAlpha
        case SPNG_COLOR_TYPE_TRUECOLOR_ALPHA.rawValue: space = .rgba
        default: space = .rgb
        }
        return ImageInfo(format: .png, width: Int(ihdr.width), height: Int(ihdr.height), colorSpace: space)
    }

    private static func check(_ status: Int32, _ code: ImageError.Code, _ what: String) throws {
        guard status != 0 else { return }
        throw ImageError(code, "\(what): \(String(cString: spng_strerror(status)))")
    }
}
