import Foundation
import LoomImage

/// Real encoded images for tests, made with libjpeg-turbo and libspng through LoomImage, plus
/// the broken and hostile files ingest has to refuse.
///
/// Every fixture is deterministic: the same arguments give the same bytes on every run (the
/// pixels come from ``SeededGenerator``; the codecs are deterministic). A fixture that cannot be
/// made is a bug in the test setup, so these functions trap instead of throwing.
public enum FixtureImages {
    // MARK: Pixels

    /// Packed RGB pixels that compress like a photograph rather than like flat colour: smooth
    /// gradients and low-frequency waves, a few hard-edged shapes, and a little per-pixel noise.
    public static func photo(width: Int, height: Int, seed: UInt64 = 1) -> [UInt8] {
        precondition(width > 0 && height > 0, "photo needs a positive size, got \(width)x\(height)")
        var rng = SeededGenerator(seed: seed)
        func uniform(_ range: ClosedRange<Double>) -> Double {
            range.lowerBound + (range.upperBound - range.lowerBound) * rng.nextUnit()
        }

        struct Wave {
            var base, dx, dy, amplitude, fx, fy, phase: Double
            func value(_ u: Double, _ v: Double) -> Double {
                base + dx * (u - 0.5) + dy * (v - 0.5) + amplitude * sin(2 * Double.pi * (fx * u + fy * v) + phase)
            }
        }
        let waves = (0..<3).map { _ in
            Wave(base: uniform(50...170), dx: uniform(-70...70), dy: uniform(-70...70),
                 amplitude: uniform(10...35), fx: uniform(0.3...2.5), fy: uniform(0.3...2.5),
                 phase: uniform(0...(2 * Double.pi)))
        }

        struct Shape { var isEllipse: Bool; var cx, cy, rx, ry, r, g, b: Double }
        let shapes = (0..<5).map { index in
            Shape(isEllipse: index % 2 == 0,
                  cx: uniform(0...1), cy: uniform(0...1), rx: uniform(0.08...0.3), ry: uniform(0.08...0.3),
                  r: uniform(0...255), g: uniform(0...255), b: uniform(0...255))
        }

        var pixels = [UInt8](repeating: 0, count: width * height * 3)
        pixels.withUnsafeMutableBufferPointer { (out) in
            for y in 0..<height {
                let v = (Double(y) + 0.5) / Double(height)
                for x in 0..<width {
                    let u = (Double(x) + 0.5) / Double(width)
                    // Mostly smooth: gradients and waves per channel.
                    var r = waves[0].value(u, v), g = waves[1].value(u, v), b = waves[2].value(u, v)
                    for shape in shapes {
                        let du = (u - shape.cx) / shape.rx, dv = (v - shape.cy) / shape.ry
                        let inside = shape.isEllipse ? du * du + dv * dv <= 1 : abs(du) <= 1 && abs(dv) <= 1
                        if inside {
                            // Shaded across the shape, so it is not a flat patch either.
                            let shade = 1 + 0.15 * du
                            (r, g, b) = (shape.r * shade, shape.g * shade, shape.b * shade)
                        }
                    }
                    // A little sensor noise: -6...6 per channel, from one 64-bit draw.
                    let draw = rng.next()
                    let offset = (y * width + x) * 3
                    out[offset] = clampToByte(r + noise(draw))
                    out[offset + 1] = clampToByte(g + noise(draw >> 16))
                    out[offset + 2] = clampToByte(b + noise(draw >> 32))
                }
            }
        }
        return pixels
    }

    /// -6...6 from the low 16 bits of `bits`.
    private static func noise(_ bits: UInt64) -> Double {
        Double(Int(bits & 0xFFFF) % 13 - 6)
    }

    private static func clampToByte(_ value: Double) -> UInt8 {
        UInt8(max(0, min(255, value.rounded())))
    }

    /// One-channel pixels: the BT.601 luma of ``photo(width:height:seed:)``.
    public static func grayPhoto(width: Int, height: Int, seed: UInt64 = 1) -> [UInt8] {
        let rgb = photo(width: width, height: height, seed: seed)
        return (0..<(width * height)).map { i in
            let r = Int(rgb[i * 3]), g = Int(rgb[i * 3 + 1]), b = Int(rgb[i * 3 + 2])
            return UInt8((77 * r + 150 * g + 29 * b + 128) >> 8)
        }
    }

    /// Adobe-style inverted CMYK (`0` = full ink, what libjpeg stores and returns) that converts
    /// back to `rgb` with `R = C * K / 255`: `K = max(R, G, B)`, `C = R * 255 / K`, ...
    ///
    /// K varies with the picture, so a conversion that ignored K, or used the non-inverted
    /// convention, would give visibly different colours.
    public static func invertedCMYK(fromRGB rgb: [UInt8]) -> [UInt8] {
        precondition(rgb.count % 3 == 0)
        var cmyk = [UInt8](repeating: 0, count: rgb.count / 3 * 4)
        for i in 0..<(rgb.count / 3) {
            let channels = [Int(rgb[i * 3]), Int(rgb[i * 3 + 1]), Int(rgb[i * 3 + 2])]
            let k = channels.max() ?? 0
            for c in 0..<3 {
                cmyk[i * 4 + c] = k == 0 ? 0 : UInt8((channels[c] * 255 + k / 2) / k)
            }
            cmyk[i * 4 + 3] = UInt8(k)
        }
        return cmyk
    }

    // MARK: Valid files

    /// A baseline (or progressive) RGB JPEG of ``photo(width:height:seed:)``.
    public static func jpeg(
        width: Int = 96, height: Int = 72, seed: UInt64 = 1, quality: Int = 90,
        subsampling: JPEGEncoder.Subsampling = .s420, progressive: Bool = false
    ) -> [UInt8] {
        encodeJPEG(photo(width: width, height: height, seed: seed), width: width, height: height,
                   layout: .rgb, quality: quality, subsampling: subsampling, progressive: progressive)
    }

    /// A one-component JPEG of ``grayPhoto(width:height:seed:)``.
    public static func grayJPEG(width: Int = 96, height: Int = 72, seed: UInt64 = 1, quality: Int = 90) -> [UInt8] {
        encodeJPEG(grayPhoto(width: width, height: height, seed: seed), width: width, height: height,
                   layout: .gray, quality: quality, subsampling: .gray, progressive: false)
    }

    /// A four-component Adobe YCCK JPEG whose CMYK decodes back to about
    /// ``photo(width:height:seed:)`` (see ``invertedCMYK(fromRGB:)``).
    public static func cmykJPEG(
        width: Int = 96, height: Int = 72, seed: UInt64 = 1, quality: Int = 95,
        subsampling: JPEGEncoder.Subsampling = .s444
    ) -> [UInt8] {
        let cmyk = invertedCMYK(fromRGB: photo(width: width, height: height, seed: seed))
        return encodeJPEG(cmyk, width: width, height: height, layout: .cmyk, quality: quality,
                          subsampling: subsampling, progressive: false)
    }

    /// A progressive RGB JPEG (SOF2) of ``photo(width:height:seed:)``.
    public static func progressiveJPEG(width: Int = 96, height: Int = 72, seed: UInt64 = 1, quality: Int = 90) -> [UInt8] {
        jpeg(width: width, height: height, seed: seed, quality: quality, subsampling: .s420, progressive: true)
    }

    /// An 8-bit PNG: gray (`channels: 1`, ``grayPhoto(width:height:seed:)``) or RGB
    /// (`channels: 3`, ``photo(width:height:seed:)``).
    public static func png(width: Int = 96, height: Int = 72, seed: UInt64 = 1, channels: Int = 3) -> [UInt8] {
        precondition(channels == 1 || channels == 3, "png fixtures are gray or RGB")
        let pixels = channels == 1
            ? grayPhoto(width: width, height: height, seed: seed)
            : photo(width: width, height: height, seed: seed)
        do {
            return try pixels.withUnsafeBytes { try PNGCodec.encode($0, width: width, height: height, channels: channels) }
        } catch {
            fatalError("fixture PNG encode failed: \(error)")
        }
    }

    // MARK: Files that are not images, or not ones Loom reads

    /// Plain text.
    public static let textFile: [UInt8] = Array("hello, this is not an image\n".utf8)

    /// A complete 1x1 GIF89a (Loom does not decode GIF).
    public static let gifFile: [UInt8] = [
        0x47, 0x49, 0x46, 0x38, 0x39, 0x61, 0x01, 0x00, 0x01, 0x00, 0x80, 0x00, 0x00, 0xFF, 0xFF, 0xFF,
        0x00, 0x00, 0x00, 0x21, 0xF9, 0x04, 0x01, 0x00, 0x00, 0x00, 0x00, 0x2C, 0x00, 0x00, 0x00, 0x00,
        0x01, 0x00, 0x01, 0x00, 0x00, 0x02, 0x02, 0x44, 0x01, 0x00, 0x3B,
    ]

    /// The RIFF/WEBP container header with a lossless `VP8L` chunk start (Loom does not decode WebP).
    public static let webpFile: [UInt8] =
        Array("RIFF".utf8) + [0x1A, 0x00, 0x00, 0x00] + Array("WEBPVP8L".utf8)
        + [0x0D, 0x00, 0x00, 0x00, 0x2F, 0x00, 0x00, 0x00, 0x10, 0x07, 0x10, 0x11, 0x11, 0x88, 0x88, 0xFE, 0x07, 0x00]

    /// A complete 1x1 24-bit BMP (Loom does not decode BMP).
    public static let bmpFile: [UInt8] = {
        func le32(_ v: UInt32) -> [UInt8] { (0..<4).map { UInt8(truncatingIfNeeded: v >> (8 * $0)) } }
        func le16(_ v: UInt16) -> [UInt8] { [UInt8(truncatingIfNeeded: v), UInt8(truncatingIfNeeded: v >> 8)] }
        let fileHeader = Array("BM".utf8) + le32(58) + le32(0) + le32(54)
        let infoHeader = le32(40) + le32(1) + le32(1) + le16(1) + le16(24) + le32(0) + le32(4)
            + le32(2835) + le32(2835) + le32(0) + le32(0)
        return fileHeader + infoHeader + [0x00, 0x00, 0xFF, 0x00]
    }()

    // MARK: Broken and hostile files

    /// A valid baseline JPEG cut at 60% of its length ("Premature end of JPEG file").
    public static func truncatedJPEG(width: Int = 96, height: Int = 72, seed: UInt64 = 1) -> [UInt8] {
        let whole = jpeg(width: width, height: height, seed: seed)
        return Array(whole.prefix(whole.count * 6 / 10))
    }

    /// A baseline JPEG with intact headers whose entropy-coded scan is damaged from 40% of the
    /// way in: 64 bytes of seeded garbage ending in a stray RST marker (`0xFF 0xD3`, in a file
    /// without restart intervals). libjpeg-turbo always reports this ("Corrupt JPEG data:
    /// premature end of data segment"), because the decoder meets a marker while the frame still
    /// needs data.
    ///
    /// Garbage alone is not enough: JPEG has no checksum, and libjpeg-turbo's fast Huffman path
    /// decodes an invalid code as zero without a warning, so a burst of bad bytes is only noticed
    /// when it leaves the decoder out of step at the end of the scan (about half the time for a
    /// 64-byte burst in these fixtures).
    public static func corruptScanJPEG(width: Int = 96, height: Int = 72, seed: UInt64 = 1) -> [UInt8] {
        var bytes = jpeg(width: width, height: height, seed: seed)
        let scan = scanData(ofBaselineJPEG: bytes)
        let length = 64
        let start = scan.lowerBound + scan.count * 2 / 5
        // Real scan data must follow the marker, so the decoder still needs bits when it meets it.
        precondition(start + length + 8 <= scan.upperBound, "scan of \(scan.count) bytes is too short to corrupt")
        var rng = SeededGenerator(seed: seed ^ 0xC0FF_EE00)
        for i in start..<(start + length - 2) {
            bytes[i] = rng.nextByte() % 0xFF  // never 0xFF: no accidental markers or stuffing
        }
        bytes[start + length - 2] = 0xFF
        bytes[start + length - 1] = 0xD3
        return bytes
    }

    /// A valid small baseline JPEG whose SOF0 frame header is patched to claim
    /// `claimedWidth x claimedHeight` (by default 60000x60000, 3.6 gigapixels): a decompression bomb.
    public static func hugeHeaderJPEG(claimedWidth: Int = 60_000, claimedHeight: Int = 60_000, seed: UInt64 = 1) -> [UInt8] {
        precondition((1...65_535).contains(claimedWidth) && (1...65_535).contains(claimedHeight))
        var bytes = jpeg(width: 32, height: 32, seed: seed)
        guard let sof = jpegSegments(bytes).first(where: { $0.marker == 0xC0 }) else {
            fatalError("fixture JPEG has no SOF0 segment")
        }
        // FF C0, length (2), precision (1), height (2), width (2).
        bytes[sof.offset + 5] = UInt8(claimedHeight >> 8)
        bytes[sof.offset + 6] = UInt8(claimedHeight & 0xFF)
        bytes[sof.offset + 7] = UInt8(claimedWidth >> 8)
        bytes[sof.offset + 8] = UInt8(claimedWidth & 0xFF)
        return bytes
    }

    /// A valid RGB PNG cut at 60% of its length (inside the IDAT data).
    public static func truncatedPNG(width: Int = 96, height: Int = 72, seed: UInt64 = 1) -> [UInt8] {
        let whole = png(width: width, height: height, seed: seed)
        return Array(whole.prefix(whole.count * 6 / 10))
    }

    /// A valid RGB PNG with one byte in the middle of its first IDAT chunk inverted, so the
    /// chunk's CRC no longer matches.
    public static func corruptPNG(width: Int = 96, height: Int = 72, seed: UInt64 = 1) -> [UInt8] {
        var bytes = png(width: width, height: height, seed: seed)
        guard let idat = pngChunks(bytes).first(where: { $0.type == "IDAT" }), idat.data.count > 0 else {
            fatalError("fixture PNG has no IDAT data")
        }
        bytes[idat.data.lowerBound + idat.data.count / 2] ^= 0xFF
        return bytes
    }

    // MARK: Structure

    /// A JPEG marker segment: `offset` is the index of its `0xFF`, `length` the segment's length
    /// field (which counts itself but not the marker).
    public struct JPEGSegment: Sendable, Equatable {
        public var marker: UInt8
        public var offset: Int
        public var length: Int
    }

    /// The marker segments from after SOI up to and including the first SOS.
    public static func jpegSegments(_ bytes: [UInt8]) -> [JPEGSegment] {
        var segments: [JPEGSegment] = []
        var offset = 2
        while offset + 4 <= bytes.count, bytes[offset] == 0xFF {
            let marker = bytes[offset + 1]
            let length = Int(bytes[offset + 2]) << 8 | Int(bytes[offset + 3])
            segments.append(JPEGSegment(marker: marker, offset: offset, length: length))
            if marker == 0xDA { break }
            offset += 2 + length
        }
        return segments
    }

    /// The entropy-coded data of a single-scan JPEG: from after the SOS header to the EOI marker.
    public static func scanData(ofBaselineJPEG bytes: [UInt8]) -> Range<Int> {
        guard let sos = jpegSegments(bytes).last, sos.marker == 0xDA,
              bytes.count >= 2, bytes[bytes.count - 2] == 0xFF, bytes[bytes.count - 1] == 0xD9
        else { fatalError("not a single-scan JPEG ending in EOI") }
        return (sos.offset + 2 + sos.length)..<(bytes.count - 2)
    }

    /// A PNG chunk: its four-letter type and where its data lies.
    public struct PNGChunk: Sendable, Equatable {
        public var type: String
        public var data: Range<Int>
    }

    /// The chunks after the PNG signature, in file order, stopping at the first that runs past the end.
    public static func pngChunks(_ bytes: [UInt8]) -> [PNGChunk] {
        var chunks: [PNGChunk] = []
        var offset = 8
        while offset + 12 <= bytes.count {
            let length = bytes[offset..<(offset + 4)].reduce(0) { $0 << 8 | Int($1) }
            let type = String(decoding: bytes[(offset + 4)..<(offset + 8)], as: UTF8.self)
            let data = (offset + 8)..<(offset + 8 + length)
            guard data.upperBound + 4 <= bytes.count else { break }
            chunks.append(PNGChunk(type: type, data: data))
            offset = data.upperBound + 4
        }
        return chunks
    }

    // MARK: Encoding

    private static func encodeJPEG(
        _ pixels: [UInt8], width: Int, height: Int, layout: PixelLayout, quality: Int,
        subsampling: JPEGEncoder.Subsampling, progressive: Bool
    ) -> [UInt8] {
        do {
            let encoder = try JPEGEncoder()
            return try pixels.withUnsafeBytes { (buffer) in
                try encoder.encode(buffer, width: width, height: height, layout: layout, quality: quality,
                                   subsampling: subsampling, progressive: progressive)
            }
        } catch {
            fatalError("fixture JPEG encode failed: \(error)")
        }
    }
}
