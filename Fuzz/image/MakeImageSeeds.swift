// Writes the `image` target's JPEG and PNG seeds with Loom's own encoders (tools/fuzz --seeds
// builds and runs it; Fuzz/make-seeds.py writes the PNG variants Loom does not encode).
import Foundation

@main
struct MakeImageSeeds {
    static func main() throws {
        let folder = CommandLine.arguments[1]
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        func write(_ name: String, _ bytes: [UInt8]) throws {
            try Data(bytes).write(to: URL(fileURLWithPath: folder + "/" + name))
        }
        let encoder = try JPEGEncoder()
        for (name, width, height, layout, subsampling, progressive) in [
            ("rgb-420.jpg", 16, 16, PixelLayout.rgb, JPEGEncoder.Subsampling.s420, false),
            ("rgb-444-odd.jpg", 9, 5, .rgb, .s444, false),
            ("rgb-progressive.jpg", 16, 8, .rgb, .s420, true),
            ("gray.jpg", 8, 8, .gray, .gray, false),
            ("cmyk.jpg", 8, 8, .cmyk, .s444, false),
        ] {
            let pixels = (0..<(width * height * layout.channels)).map { UInt8(truncatingIfNeeded: $0 &* 37) }
            try write(name, try pixels.withUnsafeBytes {
                try encoder.encode($0, width: width, height: height, layout: layout, quality: 50,
                                   subsampling: subsampling, progressive: progressive)
            })
        }
        for (name, width, height, channels) in [("gray.png", 7, 3, 1), ("rgb.png", 4, 4, 3)] {
            let pixels = (0..<(width * height * channels)).map { UInt8(truncatingIfNeeded: $0 &* 11) }
            try write(name, try pixels.withUnsafeBytes { try PNGCodec.encode($0, width: width, height: height, channels: channels) })
        }
    }
}
