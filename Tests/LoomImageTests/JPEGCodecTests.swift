import LoomImage
import LoomTestSupport
import Testing

@Suite("JPEG encode and decode")
struct JPEGCodecTests {
    @Test(arguments: [(64, 48), (101, 67), (8, 8), (1, 1), (333, 17)])
    func roundTripAtQuality95Is444Close(width: Int, height: Int) throws {
        let source = FixtureImages.photo(width: width, height: height, seed: 3)
        let bytes = FixtureImages.jpeg(width: width, height: height, seed: 3, quality: 95, subsampling: .s444)
        let header = try jpegHeader(bytes)
        #expect(header.summary == (width, height, .rgb))

        let decoded = try decodeJPEG(bytes)
        #expect(decoded.width == width && decoded.height == height)
        let error = meanAbsoluteError(decoded.pixels, source)
        #expect(error < 4, "mean absolute error \(error)")
    }

    @Test func lowerQualityLosesMoreButStaysRecognisable() throws {
        let source = FixtureImages.photo(width: 96, height: 72)
        let high = meanAbsoluteError(try decodeJPEG(FixtureImages.jpeg(quality: 95, subsampling: .s444)).pixels, source)
        let low = meanAbsoluteError(try decodeJPEG(FixtureImages.jpeg(quality: 30, subsampling: .s420)).pixels, source)
        #expect(high < low)
        #expect(low < 20, "q30 4:2:0 mean absolute error \(low)")
    }

    /// The photo fixture must compress like a photograph: much better than raw, much worse than flat colour.
    @Test func photoFixtureCompressesLikeAPhoto() {
        let bytes = FixtureImages.jpeg(width: 256, height: 192, quality: 90)
        let raw = 256 * 192 * 3
        #expect(bytes.count < raw / 4, "\(bytes.count) bytes")
        #expect(bytes.count > raw / 60, "\(bytes.count) bytes: too flat to stand for a photo")
        #expect(FixtureImages.jpeg(seed: 1) == FixtureImages.jpeg(seed: 1))
        #expect(FixtureImages.jpeg(seed: 1) != FixtureImages.jpeg(seed: 2))
    }

    @Test(arguments: [(101, 67), (64, 48), (17, 9)])
    func halfScaleDecodeIsCeilingHalfSizeAndShowsThePicture(width: Int, height: Int) throws {
        let source = FixtureImages.photo(width: width, height: height, seed: 5)
        let bytes = FixtureImages.jpeg(width: width, height: height, seed: 5, quality: 95, subsampling: .s444)
        let half = try decodeJPEG(bytes, scale: factor(1, 2))
        #expect(half.width == (width + 1) / 2 && half.height == (height + 1) / 2)
        // Rows laid out at the wrong pitch, or a different scale, would not match the box-filtered source.
        let reference = boxDownsample(source, width: width, height: height, channels: 3, factor: 2)
        let error = meanAbsoluteError(half.pixels, reference)
        #expect(error < 6, "mean absolute error \(error) against a 2x2 box filter")
    }

    @Test(arguments: [2, 4, 8])
    func integerScaleDecodesMatchABoxFilter(divisor: Int) throws {
        let (width, height) = (203, 121)
        let source = FixtureImages.photo(width: width, height: height, seed: 11)
        let bytes = FixtureImages.jpeg(width: width, height: height, seed: 11, quality: 95, subsampling: .s444)
        let scaled = try decodeJPEG(bytes, scale: factor(1, divisor))
        #expect(scaled.width == (width + divisor - 1) / divisor)
        #expect(scaled.height == (height + divisor - 1) / divisor)
        let reference = boxDownsample(source, width: width, height: height, channels: 3, factor: divisor)
        let error = meanAbsoluteError(scaled.pixels, reference)
        #expect(error < 8, "1/\(divisor): mean absolute error \(error)")
    }

    /// Every supported reduction decodes without error into exactly `scaled(width) x scaled(height)`.
    @Test func everyReducedScaleDecodes() throws {
        let bytes = FixtureImages.jpeg(width: 101, height: 67, seed: 2)
        let full = try decodeJPEG(bytes)
        for scale in JPEGScale.supported where scale <= .full {
            let picture = try decodeJPEG(bytes, scale: scale)
            #expect(picture.width == scale.scaled(101) && picture.height == scale.scaled(67), "\(scale)")
            // The mean colour survives any scale; a misplaced row pitch leaves zeros at the end.
            let meanDifference = abs(mean(picture.pixels) - mean(full.pixels))
            #expect(meanDifference < 4, "\(scale): mean differs by \(meanDifference)")
        }
    }

    @Test func decodeRefusesATooSmallBuffer() throws {
        let bytes = FixtureImages.jpeg(width: 32, height: 32)
        let decoder = try JPEGDecoder()
        var small = [UInt8](repeating: 0, count: 32 * 32 * 3 - 1)
        let error = #expect(throws: ImageError.self) {
            try bytes.withUnsafeBytes { (buffer) in
                let header = try decoder.readHeader(buffer)
                try small.withUnsafeMutableBytes {
                    try decoder.decode(buffer, header: header, scale: .full, layout: .rgb, into: $0)
                }
            }
        }
        #expect(error?.code == .invalidRequest)
    }

    @Test func encodeRefusesShortInput() throws {
        let encoder = try JPEGEncoder()
        let pixels = [UInt8](repeating: 0, count: 10)
        let error = #expect(throws: ImageError.self) {
            try pixels.withUnsafeBytes { try encoder.encode($0, width: 4, height: 4, layout: .rgb) }
        }
        #expect(error?.code == .invalidRequest)
    }

    // MARK: Colour spaces

    @Test func grayJPEGDecodesToEqualChannels() throws {
        let (width, height) = (90, 70)
        let bytes = FixtureImages.grayJPEG(width: width, height: height, quality: 95)
        #expect(try jpegHeader(bytes).colorSpace == .gray)

        let decoded = try decodeJPEG(bytes)
        #expect(decoded.width == width && decoded.height == height)
        var unequal = 0
        var luma: [UInt8] = []
        luma.reserveCapacity(width * height)
        for i in 0..<(width * height) {
            let r = decoded.pixels[i * 3], g = decoded.pixels[i * 3 + 1], b = decoded.pixels[i * 3 + 2]
            if r != g || g != b { unequal += 1 }
            luma.append(r)
        }
        #expect(unequal == 0, "\(unequal) pixels are not gray")
        let error = meanAbsoluteError(luma, FixtureImages.grayPhoto(width: width, height: height))
        #expect(error < 4, "mean absolute error \(error)")
    }

    @Test func grayJPEGDecodesToOneChannel() throws {
        let bytes = FixtureImages.grayJPEG(width: 40, height: 30, quality: 95)
        let decoder = try JPEGDecoder()
        var gray = [UInt8](repeating: 0, count: 40 * 30)
        try bytes.withUnsafeBytes { (buffer) in
            let header = try decoder.readHeader(buffer)
            try gray.withUnsafeMutableBytes { try decoder.decode(buffer, header: header, scale: .full, layout: .gray, into: $0) }
        }
        let error = meanAbsoluteError(gray, FixtureImages.grayPhoto(width: 40, height: 30))
        #expect(error < 4, "mean absolute error \(error)")
    }

    @Test func cmykJPEGDecodesToTheSourceColours() throws {
        let (width, height) = (72, 56)
        let bytes = FixtureImages.cmykJPEG(width: width, height: height, quality: 95)
        #expect(try jpegHeader(bytes).summary == (width, height, .cmyk))

        let decoded = try decodeJPEG(bytes)
        #expect(decoded.width == width && decoded.height == height)
        let source = FixtureImages.photo(width: width, height: height)
        let error = meanAbsoluteError(decoded.pixels, source)
        #expect(error < 5, "mean absolute error \(error)")

        // The raw CMYK comes back as the (inverted) ink values that were written.
        let decoder = try JPEGDecoder()
        var cmyk = [UInt8](repeating: 0, count: width * height * 4)
        try bytes.withUnsafeBytes { (buffer) in
            let header = try decoder.readHeader(buffer)
            try cmyk.withUnsafeMutableBytes { try decoder.decode(buffer, header: header, scale: .full, layout: .cmyk, into: $0) }
        }
        let inkError = meanAbsoluteError(cmyk, FixtureImages.invertedCMYK(fromRGB: source))
        #expect(inkError < 5, "CMYK mean absolute error \(inkError)")
    }

    @Test func cmykJPEGDecodesAtReducedScale() throws {
        let bytes = FixtureImages.cmykJPEG(width: 72, height: 56)
        let quarter = try decodeJPEG(bytes, scale: factor(1, 4))
        #expect(quarter.width == 18 && quarter.height == 14)
        let reference = boxDownsample(FixtureImages.photo(width: 72, height: 56), width: 72, height: 56, channels: 3, factor: 4)
        let error = meanAbsoluteError(quarter.pixels, reference)
        #expect(error < 8, "mean absolute error \(error)")
    }

    /// Reusing one decoder and one scratch array across CMYK images of different sizes.
    @Test func cmykScratchIsReusedAcrossSizes() throws {
        let decoder = try JPEGDecoder()
        var scratch: [UInt8] = []
        for (width, height) in [(16, 16), (64, 40), (24, 24)] {
            let bytes = FixtureImages.cmykJPEG(width: width, height: height, seed: 9)
            var rgb = [UInt8](repeating: 0, count: width * height * 3)
            try bytes.withUnsafeBytes { (buffer) in
                let header = try decoder.readHeader(buffer)
                try rgb.withUnsafeMutableBytes {
                    try decoder.decodeRGB(buffer, header: header, scale: .full, into: $0, scratch: &scratch)
                }
            }
            let error = meanAbsoluteError(rgb, FixtureImages.photo(width: width, height: height, seed: 9))
            #expect(error < 6, "\(width)x\(height): mean absolute error \(error)")
        }
    }

    @Test func progressiveJPEGDecodesLikeBaseline() throws {
        let (width, height) = (120, 90)
        let progressive = FixtureImages.progressiveJPEG(width: width, height: height)
        let baseline = FixtureImages.jpeg(width: width, height: height)
        let markers = FixtureImages.jpegSegments(progressive).map(\.marker)
        #expect(markers.contains(0xC2), "no SOF2 marker: the fixture is not progressive")
        #expect(!markers.contains(0xC0))
        #expect(FixtureImages.jpegSegments(baseline).map(\.marker).contains(0xC0))

        #expect(try validate(progressive) == ImageInfo(format: .jpeg, width: width, height: height, colorSpace: .rgb))
        let decoded = try decodeJPEG(progressive)
        let reference = try decodeJPEG(baseline)
        #expect(decoded.width == reference.width && decoded.height == reference.height)
        let error = meanAbsoluteError(decoded.pixels, reference.pixels)
        #expect(error < 2, "progressive and baseline decodes differ by \(error)")
        let sourceError = meanAbsoluteError(decoded.pixels, FixtureImages.photo(width: width, height: height))
        #expect(sourceError < 8, "mean absolute error \(sourceError)")
    }
}

private func mean(_ samples: [UInt8]) -> Double {
    Double(samples.reduce(0) { $0 + Int($1) }) / Double(samples.count)
}
