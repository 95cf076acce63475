internal import CLZ4

/// Chooses and applies a record's codec.
///
/// LZ4 is kept only where it pays: it must save at least 1/16 of the bytes. JPEG and PNG are
/// already entropy-coded (LZ4 on the benchmark JPEGs: ratio 1.001, see the README's benchmark table), so they skip
/// the trial compression entirely; everything else (pixel caches, metadata, checkpoints) tries.
public enum BlobCodec {
    public enum Policy: Sendable {
        /// Try LZ4 unless the media type is known to be incompressible.
        case auto
        case raw
        case lz4
    }

    static let incompressibleMediaTypes: Set<String> = ["image/jpeg", "image/png"]

    /// Encodes `bytes` for storage; returns the codec and, for LZ4, the frame (nil means raw).
    static func encode(_ bytes: UnsafeRawBufferPointer, mediaType: String, policy: Policy) throws -> (ShardFormat.Codec, [UInt8]?) {
        switch policy {
        case .raw: return (.raw, nil)
        case .auto where incompressibleMediaTypes.contains(mediaType): return (.raw, nil)
        case .auto, .lz4:
            let frame = try compressFrame(bytes)
            if policy == .lz4 || frame.count <= bytes.count - bytes.count / 16 { return (.lz4, frame) }
            return (.raw, nil)
        }
    }

    /// One LZ4 frame with the content size recorded (`LZ4F_compressFrame`).
    public static func compressFrame(_ bytes: UnsafeRawBufferPointer) throws -> [UInt8] {
        var prefs = LZ4F_preferences_t()
        prefs.frameInfo.contentSize = UInt64(bytes.count)
        let bound = LZ4F_compressFrameBound(bytes.count, &prefs)
        var out = [UInt8](repeating: 0, count: bound)
        let written = out.withUnsafeMutableBytes { target in
            LZ4F_compressFrame(target.baseAddress, bound, bytes.baseAddress, bytes.count, &prefs)
        }
        if LZ4F_isError(written) != 0 {
            throw StoreError(.io, "LZ4 compression failed: \(String(cString: LZ4F_getErrorName(written)))")
        }
        out.removeLast(bound - written)
        return out
    }

    /// Decompresses one LZ4 frame into exactly `destination.count` bytes.
    static func decompressFrame(_ frame: UnsafeRawBufferPointer, into destination: UnsafeMutableRawBufferPointer) -> ShardFormat.FormatProblem? {
        var context: OpaquePointer? = nil
        guard LZ4F_isError(LZ4F_createDecompressionContext(&context, UInt32(LZ4F_VERSION))) == 0, let context else {
            return ShardFormat.FormatProblem("cannot create an LZ4 decompression context")
        }
        defer { LZ4F_freeDecompressionContext(context) }
        var produced = 0, consumed = 0
        while true {
            var outSize = destination.count - produced
            var inSize = frame.count - consumed
            let hint = LZ4F_decompress(
                context, destination.baseAddress.map { $0 + produced }, &outSize,
                frame.baseAddress.map { $0 + consumed }, &inSize, nil)
            if LZ4F_isError(hint) != 0 {
                return ShardFormat.FormatProblem("LZ4 frame is corrupt: \(String(cString: LZ4F_getErrorName(hint)))")
            }
            produced += outSize
            consumed += inSize
            if hint == 0 { break }
            if inSize == 0 && outSize == 0 { return ShardFormat.FormatProblem("LZ4 frame is cut short") }
        }
        guard produced == destination.count, consumed == frame.count else {
            return ShardFormat.FormatProblem("LZ4 frame holds \(produced) bytes, the header says \(destination.count)")
        }
        return nil
    }
}
