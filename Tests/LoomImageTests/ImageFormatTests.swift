import LoomImage
import LoomTestSupport
import Testing

@Suite("ImageFormat.sniff")
struct ImageFormatTests {
    @Test(arguments: [
        (Fixture.baselineJPEG, ImageFormat.jpeg),
        (.grayJPEG, .jpeg),
        (.cmykJPEG, .jpeg),
        (.progressiveJPEG, .jpeg),
        (.truncatedJPEG, .jpeg),
        (.hugeHeaderJPEG, .jpeg),
        (.rgbPNG, .png),
        (.grayPNG, .png),
        (.corruptPNG, .png),
    ])
    func recognisesSupportedFormats(fixture: Fixture, expected: ImageFormat) throws {
        #expect(try sniff(fixture.bytes) == expected)
    }

    @Test(arguments: [(Fixture.gif, "GIF"), (.webp, "WebP"), (.bmp, "BMP")])
    func refusesUnsupportedImageFormats(fixture: Fixture, name: String) {
        let error = #expect(throws: ImageError.self) { try sniff(fixture.bytes) }
        #expect(error?.code == .unsupportedFormat)
        #expect(error?.reason.contains(name) == true, "reason: \(error?.reason ?? "-")")
    }

    @Test func refusesTIFFInBothByteOrders() {
        for magic: [UInt8] in [[0x49, 0x49, 0x2A, 0x00, 0x08, 0x00], [0x4D, 0x4D, 0x00, 0x2A, 0x00, 0x08]] {
            let error = #expect(throws: ImageError.self) { try sniff(magic) }
            #expect(error?.code == .unsupportedFormat)
        }
    }

    // The reason says what the bytes are and never quotes them: a dataset link may point at a private file.
    @Test func textIsNotAnImageAndTheReasonSaysSoWithoutQuotingIt() {
        let error = #expect(throws: ImageError.self) { try sniff(FixtureImages.textFile) }
        #expect(error?.code == .notAnImage)
        #expect(error?.reason == "not an image (text); Loom reads JPEG and PNG", "reason: \(error?.reason ?? "-")")
    }

    @Test func binaryGarbageIsBinaryDataWithoutHex() {
        let error = #expect(throws: ImageError.self) { try sniff([0x00, 0x01, 0xFE, 0x7F, 0x10]) }
        #expect(error?.code == .notAnImage)
        #expect(error?.reason == "not an image (binary data); Loom reads JPEG and PNG", "reason: \(error?.reason ?? "-")")
        let pdf = #expect(throws: ImageError.self) { try sniff(Array("%PDF-1.7\n".utf8)) }
        #expect(pdf?.reason.contains("a PDF document") == true, "reason: \(pdf?.reason ?? "-")")
    }

    @Test func emptyBytesAreEmpty() {
        let error = #expect(throws: ImageError.self) { try sniff([]) }
        #expect(error?.code == .empty)
    }

    @Test(arguments: [
        ([0xFF, 0xD8, 0x00, 0x00] as [UInt8], ImageError.Code.badHeader),
        ([0xFF, 0xD8], .badHeader),
        ([0xFF], .notAnImage),
        ([0x89, 0x50, 0x4E, 0x47], .notAnImage),  // a PNG signature cut short
    ])
    func shortOrDamagedSignatures(bytes: [UInt8], code: ImageError.Code) {
        let error = #expect(throws: ImageError.self) { try sniff(bytes) }
        #expect(error?.code == code, "reason: \(error?.reason ?? "-")")
    }

    @Test func mediaTypes() {
        #expect(ImageFormat.jpeg.mediaType == "image/jpeg")
        #expect(ImageFormat.png.mediaType == "image/png")
    }
}
