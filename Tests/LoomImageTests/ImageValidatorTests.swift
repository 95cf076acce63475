import LoomImage
import LoomTestSupport
import Testing

@Suite("ImageValidator")
struct ImageValidatorTests {
    @Test(arguments: [
        (Fixture.baselineJPEG, ImageInfo(format: .jpeg, width: 96, height: 72, colorSpace: .rgb)),
        (.jpeg444, ImageInfo(format: .jpeg, width: 80, height: 64, colorSpace: .rgb)),
        (.oddSizeJPEG, ImageInfo(format: .jpeg, width: 101, height: 67, colorSpace: .rgb)),
        (.grayJPEG, ImageInfo(format: .jpeg, width: 90, height: 70, colorSpace: .gray)),
        (.cmykJPEG, ImageInfo(format: .jpeg, width: 72, height: 56, colorSpace: .cmyk)),
        (.progressiveJPEG, ImageInfo(format: .jpeg, width: 120, height: 90, colorSpace: .rgb)),
        (.rgbPNG, ImageInfo(format: .png, width: 50, height: 40, colorSpace: .rgb)),
        (.grayPNG, ImageInfo(format: .png, width: 45, height: 33, colorSpace: .gray)),
    ])
    func acceptsValidImages(fixture: Fixture, expected: ImageInfo) throws {
        #expect(try validate(fixture.bytes) == expected)
    }

    @Test(arguments: [
        (Fixture.truncatedJPEG, ImageError.Code.corruptData),
        (.corruptScanJPEG, .corruptData),
        (.hugeHeaderJPEG, .tooLarge),
        (.headerOnlyJPEG, .badHeader),
        (.truncatedPNG, .corruptData),
        (.corruptPNG, .corruptData),
        (.text, .notAnImage),
        (.empty, .empty),
        (.gif, .unsupportedFormat),
        (.webp, .unsupportedFormat),
        (.bmp, .unsupportedFormat),
    ])
    func refusesBrokenFiles(fixture: Fixture, code: ImageError.Code) {
        let error = #expect(throws: ImageError.self) { try validate(fixture.bytes) }
        #expect(error?.code == code, "reason: \(error?.reason ?? "-")")
        #expect(error?.reason.isEmpty == false)
    }

    /// The broken JPEGs keep a readable header: validation fails on the data, not on the header.
    @Test(arguments: [Fixture.truncatedJPEG, .corruptScanJPEG])
    func brokenJPEGDataBehindAGoodHeader(fixture: Fixture) throws {
        #expect(try jpegHeader(fixture.bytes).summary == (96, 72, .rgb))
        let error = #expect(throws: ImageError.self) { try decodeJPEG(fixture.bytes) }
        #expect(error?.code == .corruptData, "reason: \(error?.reason ?? "-")")
    }

    @Test func truncatedJPEGReasonSaysSo() {
        let error = #expect(throws: ImageError.self) { try validate(FixtureImages.truncatedJPEG()) }
        #expect(error?.reason.contains("Premature end of JPEG file") == true, "reason: \(error?.reason ?? "-")")
    }

    @Test func corruptScanReasonSaysCorrupt() {
        let error = #expect(throws: ImageError.self) { try validate(FixtureImages.corruptScanJPEG()) }
        #expect(error?.reason.contains("Corrupt JPEG data") == true, "reason: \(error?.reason ?? "-")")
    }

    /// The corruption is found whatever the picture and size: sweeps seeds and sizes.
    @Test(arguments: [(96, 72), (201, 133), (640, 480), (33, 1000)], [UInt64(1), 2, 3, 4, 5, 6])
    func corruptScanIsAlwaysFound(size: (Int, Int), seed: UInt64) {
        let bytes = FixtureImages.corruptScanJPEG(width: size.0, height: size.1, seed: seed)
        let error = #expect(throws: ImageError.self) { try validate(bytes) }
        #expect(error?.code == .corruptData, "reason: \(error?.reason ?? "-")")
    }

    @Test func hugeHeaderIsRefusedBeforeDecoding() throws {
        let bytes = FixtureImages.hugeHeaderJPEG()
        #expect(try jpegHeader(bytes).summary == (60_000, 60_000, .rgb))
        let error = #expect(throws: ImageError.self) { try validate(bytes) }
        #expect(error?.code == .tooLarge)
        #expect(error?.reason.contains("60000x60000") == true, "reason: \(error?.reason ?? "-")")
        #expect(error?.reason.contains("\(DecodeLimits.default.maxPixels)") == true, "reason: \(error?.reason ?? "-")")
    }

    /// With the pixel guard lifted, the bomb's missing data is still caught by the decode.
    @Test func hugeHeaderWithoutThePixelLimitFailsInTheDecode() {
        let limits = DecodeLimits(maxPixels: Int.max, maxSide: 65_535)
        let error = #expect(throws: ImageError.self) { try validate(FixtureImages.hugeHeaderJPEG(), limits: limits) }
        #expect(error?.code == .corruptData, "reason: \(error?.reason ?? "-")")
    }

    @Test(arguments: [Fixture.baselineJPEG, .grayJPEG, .cmykJPEG, .progressiveJPEG, .rgbPNG, .grayPNG])
    func limitsApplyToEveryFormat(fixture: Fixture) throws {
        let info = try validate(fixture.bytes)
        let exact = DecodeLimits(maxPixels: info.pixelCount, maxSide: max(info.width, info.height))
        #expect(try validate(fixture.bytes, limits: exact) == info)

        let fewerPixels = DecodeLimits(maxPixels: info.pixelCount - 1)
        let pixelError = #expect(throws: ImageError.self) { try validate(fixture.bytes, limits: fewerPixels) }
        #expect(pixelError?.code == .tooLarge, "reason: \(pixelError?.reason ?? "-")")

        let shorterSide = DecodeLimits(maxSide: max(info.width, info.height) - 1)
        let sideError = #expect(throws: ImageError.self) { try validate(fixture.bytes, limits: shorterSide) }
        #expect(sideError?.code == .tooLarge, "reason: \(sideError?.reason ?? "-")")
    }

    @Test(arguments: [
        FixtureImages.jpeg(width: 20, height: 20),
        FixtureImages.png(width: 20, height: 20),
    ])
    func aHundredPixelLimitRefuses20x20(bytes: [UInt8]) {
        let error = #expect(throws: ImageError.self) { try validate(bytes, limits: DecodeLimits(maxPixels: 100)) }
        #expect(error?.code == .tooLarge)
        #expect(error?.reason.contains("20x20") == true, "reason: \(error?.reason ?? "-")")
        #expect(error?.reason.contains("100") == true, "reason: \(error?.reason ?? "-")")
    }

    /// One validator, many files: failures leave neither the libjpeg-turbo handle nor the
    /// scratch buffer in a state that breaks the next file.
    @Test func oneValidatorSurvivesAMixedStream() throws {
        let validator = try ImageValidator()
        let stream: [(Fixture, ImageError.Code?)] = [
            (.baselineJPEG, nil), (.corruptScanJPEG, .corruptData), (.oddSizeJPEG, nil),
            (.truncatedJPEG, .corruptData), (.cmykJPEG, nil), (.hugeHeaderJPEG, .tooLarge),
            (.progressiveJPEG, nil), (.corruptPNG, .corruptData), (.rgbPNG, nil), (.text, .notAnImage),
            (.grayJPEG, nil), (.truncatedPNG, .corruptData), (.grayPNG, nil), (.baselineJPEG, nil),
        ]
        for (fixture, expected) in stream {
            let bytes = fixture.bytes
            do {
                let info = try bytes.withUnsafeBytes { try validator.validate($0) }
                #expect(expected == nil, "\(fixture) validated as \(info)")
                #expect(info == (try validate(bytes)), "\(fixture)")
            } catch let error as ImageError {
                #expect(error.code == expected, "\(fixture): \(error.reason)")
            }
        }
    }

    @Test func largerImagesThanTheRetainedScratchStillValidate() throws {
        // JPEG scratch is small at 1/8 scale; a PNG needs width * height * 3 bytes, here over
        // the 16 MiB the validator keeps between calls. A cheap pattern: the photo is slow in debug builds.
        let (width, height) = (2400, 2400)
        let row = (0..<(width * 3)).map { UInt8(truncatingIfNeeded: $0 / 3 % 251) }
        var pattern = [UInt8](repeating: 0, count: width * height * 3)
        pattern.withUnsafeMutableBytes { (out) in
            row.withUnsafeBytes { (source) in
                for y in 0..<height { (out.baseAddress! + y * source.count).copyMemory(from: source.baseAddress!, byteCount: source.count) }
            }
        }
        let big = try pattern.withUnsafeBytes { try PNGCodec.encode($0, width: width, height: height, channels: 3) }
        let validator = try ImageValidator()
        for bytes in [big, FixtureImages.png(width: 10, height: 10), big, FixtureImages.jpeg()] {
            let info = try bytes.withUnsafeBytes { try validator.validate($0) }
            #expect(info == (try validate(bytes)))
        }
    }
}

@Suite("ImageValidator reuse")
struct ImageValidatorReuseTests {
    /// One validator per ingest thread sees every kind of file in turn: a failure must not
    /// poison the next file (libjpeg-turbo leaves its handle mid-decode after an error).
    @Test(arguments: [Fixture.truncatedJPEG, .corruptScanJPEG, .headerOnlyJPEG, .hugeHeaderJPEG, .text, .truncatedPNG])
    func aBrokenFileDoesNotSpoilTheNextGoodOne(broken: Fixture) throws {
        let validator = try ImageValidator()
        for good in [Fixture.baselineJPEG, .progressiveJPEG, .grayJPEG, .cmykJPEG, .rgbPNG] {
            _ = try? broken.bytes.withUnsafeBytes { try validator.validate($0) }
            let info = try good.bytes.withUnsafeBytes { try validator.validate($0) }
            #expect(info == (try validate(good.bytes)), "\(good) after \(broken)")
        }
    }

    /// Cut inside the header segments (before the frame header): `tjDecompressHeader3` fails.
    @Test(arguments: [20, 200, 400])
    func aJPEGCutInItsHeadersDoesNotSpoilTheNextOne(length: Int) throws {
        let validator = try ImageValidator()
        let good = FixtureImages.jpeg(width: 64, height: 48, seed: 97)
        let cut = Array(good.prefix(length))
        #expect(throws: ImageError.self) { try cut.withUnsafeBytes { try validator.validate($0) } }
        let info = try good.withUnsafeBytes { try validator.validate($0) }
        #expect(info.width == 64 && info.height == 48)
    }
}
