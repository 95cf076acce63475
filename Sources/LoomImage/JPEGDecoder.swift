internal import CTurboJPEG

/// What a JPEG header says, read without decoding the scan.
public struct JPEGHeader: Sendable, Equatable {
    public var width: Int
    public var height: Int
    public var colorSpace: ImageInfo.ColorSpace
}

/// Pixel layouts the decoder writes.
public enum PixelLayout: Sendable {
    case gray, rgb, cmyk

    public var channels: Int {
        switch self {
        case .gray: 1
        case .rgb: 3
        case .cmyk: 4
        }
    }

    var turboFormat: Int32 {
        switch self {
        case .gray: Int32(TJPF_GRAY.rawValue)
        case .rgb: Int32(TJPF_RGB.rawValue)
        case .cmyk: Int32(TJPF_CMYK.rawValue)
        }
    }
}

/// A libjpeg-turbo decompressor (`tjInitDecompress`).
///
/// Not thread-safe and deliberately not `Sendable`: each decoding thread owns one, so the hot
/// path never takes a lock. The handle is destroyed in `deinit`, and replaced after a failure:
/// libjpeg-turbo leaves a handle whose header read failed mid-stream, so the next header it
/// reads comes back empty or garbled (one broken file would reject the good ones after it).
public final class JPEGDecoder {
    private var handle: tjhandle

    /// Refuses scans that libjpeg-turbo only warns about (truncation, corrupt entropy data)
    /// and caps progressive scans at 500, the libjpeg-turbo guard against scan-count bombs.
    private static let strictFlags = Int32(TJFLAG_STOPONWARNING | TJFLAG_LIMITSCANS)

    public init() throws {
        guard let handle = tjInitDecompress() else {
            throw ImageError(.invalidRequest, "libjpeg-turbo: tjInitDecompress failed")
        }
        self.handle = handle
    }

    deinit { tjDestroy(handle) }

    /// Reads the frame header (`tjDecompressHeader3`).
    public func readHeader(_ bytes: UnsafeRawBufferPointer) throws -> JPEGHeader {
        var width: Int32 = 0, height: Int32 = 0, subsampling: Int32 = 0, colorspace: Int32 = 0
        let status = tjDecompressHeader3(
            handle, bytes.baseAddress?.assumingMemoryBound(to: UInt8.self), UInt(bytes.count),
            &width, &height, &subsampling, &colorspace)
        guard status == 0 else {
            let message = lastError()
            try reset()
            throw ImageError(.badHeader, "unreadable JPEG header: \(message)")
        }
        // libjpeg-turbo reports success with a 0x0 size when the file ends before the frame header.
        guard width > 0, height > 0 else {
            try reset()
            throw ImageError(.badHeader, "JPEG has no frame header (cut short before the image?)")
        }
        let space: ImageInfo.ColorSpace
        switch UInt32(colorspace) {
        case TJCS_GRAY.rawValue: space = .gray
        case TJCS_CMYK.rawValue, TJCS_YCCK.rawValue: space = .cmyk
        default: space = .rgb
        }
        return JPEGHeader(width: Int(width), height: Int(height), colorSpace: space)
    }

    /// Decodes the whole image at `scale` into `destination` (`tjDecompress2`), tightly packed rows.
    ///
    /// CMYK and YCCK sources can only be written as `.cmyk` (libjpeg-turbo has no CMYK to RGB
    /// conversion); ``decodeRGB(_:header:scale:into:)`` converts them.
    /// - Throws: `ImageError.corruptData` when the scan is truncated or corrupt, even where
    ///   libjpeg-turbo would only warn.
    public func decode(
        _ bytes: UnsafeRawBufferPointer, header: JPEGHeader, scale: JPEGScale,
        layout: PixelLayout, into destination: UnsafeMutableRawBufferPointer
    ) throws {
        let width = scale.scaled(header.width), height = scale.scaled(header.height)
        guard destination.count >= width * height * layout.channels else {
            throw ImageError(.invalidRequest, "decode buffer of \(destination.count) bytes is too small for \(width)x\(height)x\(layout.channels)")
        }
        let status = tjDecompress2(
            handle, bytes.baseAddress?.assumingMemoryBound(to: UInt8.self), UInt(bytes.count),
            destination.baseAddress?.assumingMemoryBound(to: UInt8.self),
            Int32(width), Int32(width * layout.channels), Int32(height), layout.turboFormat, Self.strictFlags)
        guard status == 0 else {
            let message = lastError()
            try reset()
            throw ImageError(.corruptData, "corrupt or truncated JPEG data: \(message)")
        }
    }

    /// Decodes to packed RGB at `scale`, converting grayscale and (Adobe, inverted) CMYK sources.
    ///
    /// `scratch` holds the CMYK intermediate when one is needed; pass the same array each call
    /// so the hot path does not allocate.
    public func decodeRGB(
        _ bytes: UnsafeRawBufferPointer, header: JPEGHeader, scale: JPEGScale,
        into destination: UnsafeMutableRawBufferPointer, scratch: inout [UInt8]
    ) throws {
        guard header.colorSpace == .cmyk else {
            try decode(bytes, header: header, scale: scale, layout: .rgb, into: destination)
            return
        }
        let pixels = scale.scaled(header.width) * scale.scaled(header.height)
        if scratch.count < pixels * 4 { scratch = [UInt8](repeating: 0, count: pixels * 4) }
        try scratch.withUnsafeMutableBytes { (cmyk) in
            try decode(bytes, header: header, scale: scale, layout: .cmyk, into: cmyk)
            guard destination.count >= pixels * 3 else {
                throw ImageError(.invalidRequest, "RGB buffer too small")
            }
            ColorConversion.invertedCMYKToRGB(cmyk, into: destination, pixels: pixels)
        }
    }

    /// A fresh handle after a failure (errors are rare; the hot path never pays for this).
    private func reset() throws {
        guard let fresh = tjInitDecompress() else {
            throw ImageError(.invalidRequest, "libjpeg-turbo: tjInitDecompress failed")
        }
        tjDestroy(handle)
        handle = fresh
    }

    private func lastError() -> String {
        guard let message = tjGetErrorStr2(handle) else { return "unknown error" }
        return String(cString: message)
    }
}
