internal import CTurboJPEG

/// A libjpeg-turbo compressor (`tjInitCompress`); one per thread, destroyed in `deinit`.
public final class JPEGEncoder {
    public enum Subsampling: Sendable {
        case s444, s420, gray

        var turbo: Int32 {
            switch self {
            case .s444: Int32(TJSAMP_444.rawValue)
            case .s420: Int32(TJSAMP_420.rawValue)
            case .gray: Int32(TJSAMP_GRAY.rawValue)
            }
        }
    }

    private let handle: tjhandle

    public init() throws {
        guard let handle = tjInitCompress() else { throw ImageError(.encodeFailed, "libjpeg-turbo: tjInitCompress failed") }
        self.handle = handle
    }

    deinit { tjDestroy(handle) }

    /// Compresses packed pixels (`tjCompress2`).
    /// - Parameters:
    ///   - layout: `.gray`, `.rgb` or `.cmyk` (CMYK writes an Adobe-style YCCK JPEG).
    ///   - progressive: writes a progressive JPEG (`TJFLAG_PROGRESSIVE`).
    public func encode(
        _ pixels: UnsafeRawBufferPointer, width: Int, height: Int, layout: PixelLayout,
        quality: Int = 90, subsampling: Subsampling = .s420, progressive: Bool = false
    ) throws -> [UInt8] {
        guard pixels.count >= width * height * layout.channels else {
            throw ImageError(.invalidRequest, "JPEG encode needs \(width * height * layout.channels) bytes, got \(pixels.count)")
        }
        var output: UnsafeMutablePointer<UInt8>? = nil
        var size: UInt = 0
        let flags = progressive ? Int32(TJFLAG_PROGRESSIVE) : 0
        let sampling = layout == .gray ? Subsampling.gray.turbo : subsampling.turbo
        let status = tjCompress2(
            handle, pixels.baseAddress?.assumingMemoryBound(to: UInt8.self), Int32(width), Int32(width * layout.channels),
            Int32(height), layout.turboFormat, &output, &size, sampling, Int32(quality), flags)
        defer { if let output { tjFree(output) } }
        guard status == 0, let output else {
            throw ImageError(.encodeFailed, "JPEG encode: \(String(cString: tjGetErrorStr2(handle)))")
        }
        return [UInt8](UnsafeBufferPointer(start: output, count: Int(size)))
    }
}
