internal import CJPEGRegion

/// Decodes one rectangle of a JPEG (libjpeg's `jpeg_skip_scanlines` and `jpeg_crop_scanline`,
/// through Sources/CJPEGRegion): a RandomResizedCrop covers under half the image on average, and
/// the inverse DCT, upsampling and colour conversion of the rest is work thrown away. Rows below
/// the rectangle are not read at all; rows above and columns beside it are entropy-decoded only,
/// since a Huffman-coded scan cannot be entered midway.
///
/// The pixels are those of a whole decode at the same scale (the same libjpeg-turbo, islow
/// inverse DCT, fancy upsampling), except within two pixels of a cut edge, where libjpeg's
/// upsampler sees the cut as the image's edge: ``decode(_:scale:scaledWidth:scaledHeight:covering:into:)`` widens the
/// rectangle by ``margin`` so that the pixels asked for are exact. Not thread-safe: one per
/// decoding thread.
public final class JPEGRegionDecoder {
    private let handle: OpaquePointer

    /// How far past the requested pixels the decode reaches on every cut side.
    public static let margin = 2

    public init() throws {
        guard let handle = loom_jpeg_region_create() else {
            throw ImageError(.invalidRequest, "libjpeg: could not create a decompressor")
        }
        self.handle = handle
    }

    deinit { loom_jpeg_region_destroy(handle) }

    /// The bytes ``decode(_:scale:scaledWidth:scaledHeight:covering:into:)`` may write for a rectangle of `width x height`.
    public static func capacity(width: Int, height: Int) -> Int {
        (width + 2 * margin + 32) * (height + 2 * margin) * 3
    }

    /// Decodes at least `rectangle` (scaled-image pixels, clamped to the image) of a JPEG whose
    /// scaled size is `scaledWidth x scaledHeight`, into `destination`.
    /// - Returns: the rectangle actually decoded (it contains the one asked for; the pixels are
    ///   packed RGB rows `width * 3` bytes apart), or nil for a
    ///   CMYK or YCCK image, which libjpeg cannot convert to RGB: decode those whole.
    /// - Throws: `ImageError.corruptData` for a corrupt or truncated scan (warnings included).
    public func decode(
        _ bytes: UnsafeRawBufferPointer, scale: JPEGScale, scaledWidth: Int, scaledHeight: Int,
        covering rectangle: PixelRect, into destination: UnsafeMutableRawBufferPointer
    ) throws -> PixelRect? {
        let m = Self.margin
        let left = max(0, rectangle.left - m), top = max(0, rectangle.top - m)
        let right = min(scaledWidth, rectangle.right + m), bottom = min(scaledHeight, rectangle.bottom + m)
        guard right > left, bottom > top else {
            throw ImageError(.invalidRequest, "region \(rectangle) lies outside the \(scaledWidth)x\(scaledHeight) image")
        }
        var decodedLeft: Int32 = 0, decodedWidth: Int32 = 0
        let status = loom_jpeg_region_decode(
            handle, bytes.baseAddress?.assumingMemoryBound(to: UInt8.self), bytes.count,
            Int32(scale.numerator), Int32(scale.denominator), Int32(left), Int32(top), Int32(right - left), Int32(bottom - top),
            destination.baseAddress?.assumingMemoryBound(to: UInt8.self), destination.count, &decodedLeft, &decodedWidth)
        switch Int(status) {
        case LOOM_JPEG_REGION_OK:
            return PixelRect(left: Int(decodedLeft), top: top, width: Int(decodedWidth), height: bottom - top)
        case LOOM_JPEG_REGION_CMYK:
            return nil
        case LOOM_JPEG_REGION_BAD_REQUEST:
            throw ImageError(.invalidRequest, "JPEG region decode: \(message)")
        default:
            throw ImageError(.corruptData, "corrupt or truncated JPEG data: \(message)")
        }
    }

    private var message: String { String(cString: loom_jpeg_region_message(handle)) }
}
