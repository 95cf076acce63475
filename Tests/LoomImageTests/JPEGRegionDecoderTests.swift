import LoomImage
import LoomTestSupport
import Testing

/// The region decoder the loader reads crops with: its pixels are the whole decode's, on every
/// layout libjpeg-turbo writes, at every accelerated scale.
@Suite struct JPEGRegionDecoderTests {
    enum Source: String, CaseIterable, Sendable {
        case s420, s444, gray, progressive, oddSize420

        var bytes: [UInt8] {
            switch self {
            case .s420: FixtureImages.jpeg(width: 203, height: 157, seed: 3)
            case .s444: FixtureImages.jpeg(width: 160, height: 120, seed: 4, quality: 95, subsampling: .s444)
            case .gray: FixtureImages.grayJPEG(width: 150, height: 110, seed: 5)
            case .progressive: FixtureImages.progressiveJPEG(width: 190, height: 141, seed: 6)
            case .oddSize420: FixtureImages.jpeg(width: 77, height: 45, seed: 8)
            }
        }
    }

    static func whole(_ bytes: [UInt8], scale: JPEGScale) throws -> (pixels: [UInt8], width: Int, height: Int) {
        let decoder = try JPEGDecoder()
        let header = try bytes.withUnsafeBytes { try decoder.readHeader($0) }
        let width = scale.scaled(header.width), height = scale.scaled(header.height)
        var pixels = [UInt8](repeating: 0, count: width * height * 3)
        var scratch: [UInt8] = []
        try bytes.withUnsafeBytes { jpeg in
            try pixels.withUnsafeMutableBytes { try decoder.decodeRGB(jpeg, header: header, scale: scale, into: $0, scratch: &scratch) }
        }
        return (pixels, width, height)
    }

    static func region(_ decoder: JPEGRegionDecoder, _ bytes: [UInt8], scale: JPEGScale, width: Int, height: Int,
                       rect: PixelRect) throws -> (PixelRect?, [UInt8]) {
        var out = [UInt8](repeating: 0xEE, count: JPEGRegionDecoder.capacity(width: rect.width, height: rect.height))
        let got = try bytes.withUnsafeBytes { jpeg in
            try out.withUnsafeMutableBytes {
                try decoder.decode(jpeg, scale: scale, scaledWidth: width, scaledHeight: height, covering: rect, into: $0)
            }
        }
        return (got, out)
    }

    @Test(arguments: Source.allCases, JPEGScale.accelerated)
    func regionPixelsAreTheWholeDecodesPixels(source: Source, scale: JPEGScale) throws {
        let bytes = source.bytes
        let full = try Self.whole(bytes, scale: scale)
        let decoder = try JPEGRegionDecoder()
        var rng = SeededGenerator(seed: 11)
        // Random rectangles, plus the whole image, one pixel, and each edge and corner.
        var rects = [(0, 0, full.width, full.height), (full.width / 2, full.height / 2, 1, 1),
                     (0, 0, 1, full.height), (full.width - 1, 0, 1, full.height),
                     (0, full.height - 1, full.width, 1), (full.width - 3, full.height - 3, 3, 3)]
            .map { PixelRect(left: $0.0, top: $0.1, width: $0.2, height: $0.3) }
        for _ in 0..<40 {
            let w = Int.random(in: 1...full.width, using: &rng), h = Int.random(in: 1...full.height, using: &rng)
            rects.append(PixelRect(left: Int.random(in: 0...(full.width - w), using: &rng), top: Int.random(in: 0...(full.height - h), using: &rng),
                                   width: w, height: h))
        }
        for rect in rects {
            let (got, pixels) = try Self.region(decoder, bytes, scale: scale, width: full.width, height: full.height, rect: rect)
            let region = try #require(got)
            #expect(region.left <= rect.left && region.top <= rect.top, "\(rect)")
            #expect(region.right >= rect.right && region.bottom >= rect.bottom, "\(rect)")
            var mismatches = 0
            for y in rect.top..<rect.bottom {
                for x in rect.left..<rect.right {
                    for c in 0..<3 where pixels[((y - region.top) * region.width + x - region.left) * 3 + c] != full.pixels[(y * full.width + x) * 3 + c] {
                        mismatches += 1
                    }
                }
            }
            #expect(mismatches == 0, "\(source) at \(scale), rectangle \(rect): \(mismatches) samples differ from the whole decode")
        }
    }

    @Test func cmykIsLeftToTheWholeDecoder() throws {
        let decoder = try JPEGRegionDecoder()
        let (got, _) = try Self.region(decoder, FixtureImages.cmykJPEG(width: 72, height: 56), scale: .full, width: 72, height: 56,
                                       rect: PixelRect(left: 0, top: 0, width: 10, height: 10))
        #expect(got == nil)
    }

    @Test func aCutScanInsideTheRegionIsRefusedAndTheDecoderRecovers() throws {
        let decoder = try JPEGRegionDecoder()
        #expect {
            _ = try Self.region(decoder, FixtureImages.truncatedJPEG(width: 96, height: 72), scale: .full, width: 96, height: 72,
                                rect: PixelRect(left: 0, top: 0, width: 96, height: 72))
        } throws: { ($0 as? ImageError)?.code == .corruptData }
        #expect {
            _ = try Self.region(decoder, FixtureImages.corruptScanJPEG(width: 96, height: 72), scale: .full, width: 96, height: 72,
                                rect: PixelRect(left: 0, top: 0, width: 96, height: 72))
        } throws: { ($0 as? ImageError)?.code == .corruptData }
        // The same decompressor reads a good file right after.
        let good = FixtureImages.jpeg(width: 96, height: 72)
        let full = try Self.whole(good, scale: .full)
        let (got, pixels) = try Self.region(decoder, good, scale: .full, width: 96, height: 72, rect: PixelRect(left: 0, top: 0, width: 96, height: 72))
        #expect(got == PixelRect(left: 0, top: 0, width: 96, height: 72))
        #expect(Array(pixels.prefix(full.pixels.count)) == full.pixels)
    }

    @Test func aRectangleOutsideTheImageIsRefused() throws {
        let decoder = try JPEGRegionDecoder()
        #expect {
            _ = try Self.region(decoder, FixtureImages.jpeg(width: 96, height: 72), scale: .full, width: 96, height: 72,
                                rect: PixelRect(left: 100, top: 0, width: 10, height: 10))
        } throws: { ($0 as? ImageError)?.code == .invalidRequest }
    }

    @Test func aDestinationTooSmallIsRefusedNotOverrun() throws {
        let decoder = try JPEGRegionDecoder()
        let bytes = FixtureImages.jpeg(width: 96, height: 72)
        var out = [UInt8](repeating: 0, count: 96 * 3)
        #expect {
            try bytes.withUnsafeBytes { jpeg in
                try out.withUnsafeMutableBytes {
                    _ = try decoder.decode(jpeg, scale: .full, scaledWidth: 96, scaledHeight: 72, covering: PixelRect(left: 0, top: 0, width: 96, height: 72), into: $0)
                }
            }
        } throws: { ($0 as? ImageError)?.code == .invalidRequest }
    }
}
