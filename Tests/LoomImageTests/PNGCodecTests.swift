import LoomImage
import LoomTestSupport
import Testing

@Suite("PNG encode and decode")
struct PNGCodecTests {
    @Test(arguments: [1, 3], [(1, 1), (45, 33), (256, 3), (7, 200)])
    func roundTripIsExact(channels: Int, size: (Int, Int)) throws {
        let (width, height) = size
        let source = channels == 1
            ? FixtureImages.grayPhoto(width: width, height: height, seed: 8)
            : FixtureImages.photo(width: width, height: height, seed: 8)
        let bytes = try source.withUnsafeBytes { try PNGCodec.encode($0, width: width, height: height, channels: channels) }
        #expect(try sniff(bytes) == .png)

        let (info, rgb) = try decodePNG(bytes)
        #expect(info == ImageInfo(format: .png, width: width, height: height, colorSpace: channels == 1 ? .gray : .rgb))
        let expected = channels == 1 ? source.flatMap { [$0, $0, $0] } : source
        #expect(rgb == expected)
    }

    @Test func fixtureIsAStandardPNG() {
        let bytes = FixtureImages.png(width: 30, height: 20)
        #expect(Array(bytes.prefix(8)) == [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A])
        let types = FixtureImages.pngChunks(bytes).map(\.type)
        #expect(types.first == "IHDR")
        #expect(types.contains("IDAT"))
        #expect(types.last == "IEND")
    }

    @Test(arguments: [0, 2, 4])
    func encodeRefusesOtherChannelCounts(channels: Int) {
        let pixels = [UInt8](repeating: 0, count: 64)
        let error = #expect(throws: ImageError.self) {
            try pixels.withUnsafeBytes { try PNGCodec.encode($0, width: 4, height: 4, channels: channels) }
        }
        #expect(error?.code == .invalidRequest)
    }

    @Test func encodeRefusesShortInput() {
        let pixels = [UInt8](repeating: 0, count: 47)
        let error = #expect(throws: ImageError.self) {
            try pixels.withUnsafeBytes { try PNGCodec.encode($0, width: 4, height: 4, channels: 3) }
        }
        #expect(error?.code == .invalidRequest)
    }

    @Test func decodeRefusesATooSmallBuffer() throws {
        let bytes = FixtureImages.png(width: 10, height: 10)
        var small = [UInt8](repeating: 0, count: 299)
        let error = #expect(throws: ImageError.self) {
            try bytes.withUnsafeBytes { (buffer) in
                try small.withUnsafeMutableBytes { try PNGCodec.decodeRGB(buffer, into: $0) }
            }
        }
        #expect(error?.code == .invalidRequest)
    }

    @Test func truncatedAndCorruptPNGsKeepAReadableHeader() throws {
        for bytes in [FixtureImages.truncatedPNG(), FixtureImages.corruptPNG()] {
            let header = try bytes.withUnsafeBytes { try PNGCodec.readHeader($0) }
            #expect(header == ImageInfo(format: .png, width: 96, height: 72, colorSpace: .rgb))
            let error = #expect(throws: ImageError.self) { try decodePNG(bytes) }
            #expect(error?.code == .corruptData, "reason: \(error?.reason ?? "-")")
        }
    }

    @Test func aPNGCutInsideItsHeaderIsABadHeader() {
        let bytes = Array(FixtureImages.png().prefix(20))
        let error = #expect(throws: ImageError.self) { try validate(bytes) }
        #expect(error?.code == .badHeader, "reason: \(error?.reason ?? "-")")
    }
}
