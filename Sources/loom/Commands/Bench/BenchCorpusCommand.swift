import ArgumentParser
import Foundation
import LoomImage
import LoomIngest
import LoomLoader

struct BenchCorpusCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "corpus",
        abstract: "Cut photo-sized JPEGs (default 500x375, q90 4:2:0, like ImageNet) out of large photos.",
        discussion: """
            Each output is a random crop of a source photo decoded at a random DCT scale, so crops
            show real photographic content at several zoom levels. Sources: any folder of JPEGs, e.g.
            Debian's wallpapers (tools/bench/photos installs them). Output: OUT/class_NN/NNNNN.jpg.
            """)

    @Option(help: "Folder searched recursively for source JPEGs.")
    var from: String

    @Option(help: "Output folder.")
    var out: String

    @Option(help: "Number of images.")
    var count: Int = 500

    @Option(help: "Output size WxH.")
    var size: String = "500x375"

    @Option(help: "Number of class folders.")
    var classes: Int = 10

    @Option(help: "Random seed.")
    var seed: UInt64 = 0

    func run() throws {
        let dims = size.split(separator: "x").compactMap { Int($0) }
        guard dims.count == 2, dims[0] > 0, dims[1] > 0 else { throw ValidationError("--size must be WxH") }
        let (width, height) = (dims[0], dims[1])
        let decoder = try JPEGDecoder(), encoder = try JPEGEncoder()
        var sources: [(path: String, bytes: [UInt8], header: JPEGHeader)] = []
        let enumerator = FileManager.default.enumerator(atPath: from)
        while let relative = enumerator?.nextObject() as? String {
            let path = from + "/" + relative
            guard let data = FileManager.default.contents(atPath: path), data.count > 3 else { continue }
            let bytes = [UInt8](data)
            guard let header = try? bytes.withUnsafeBytes({ try decoder.readHeader($0) }),
                  header.colorSpace != .cmyk, header.width >= width, header.height >= height else { continue }
            sources.append((path, bytes, header))
        }
        sources.sort { $0.path < $1.path }
        guard !sources.isEmpty else { throw ValidationError("no JPEG of at least \(size) under \(from)") }
        var random = SplitMix64(seed: seed)
        var pixels: [UInt8] = [], scratch: [UInt8] = [], crop = [UInt8](repeating: 0, count: width * height * 3)
        for index in 0..<count {
            let source = sources[index % sources.count]
            let scales = JPEGScale.supported.filter {
                $0 <= .full && $0.scaled(source.header.width) >= width && $0.scaled(source.header.height) >= height
            }
            let scale = scales[Int(random.next() % UInt64(scales.count))]
            let w = scale.scaled(source.header.width), h = scale.scaled(source.header.height)
            if pixels.count < w * h * 3 { pixels = [UInt8](repeating: 0, count: w * h * 3) }
            try source.bytes.withUnsafeBytes { jpeg in
                try pixels.withUnsafeMutableBytes { try decoder.decodeRGB(jpeg, header: source.header, scale: scale, into: $0, scratch: &scratch) }
            }
            let x = Int(random.next() % UInt64(w - width + 1)), y = Int(random.next() % UInt64(h - height + 1))
            for row in 0..<height {
                let from = ((y + row) * w + x) * 3
                crop.replaceSubrange(row * width * 3..<(row + 1) * width * 3, with: pixels[from..<from + width * 3])
            }
            let jpeg = try crop.withUnsafeBytes { try encoder.encode($0, width: width, height: height, layout: .rgb, quality: 90) }
            let folder = String(format: "%@/class_%02d", out, index % classes)
            try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
            try Data(jpeg).write(to: URL(fileURLWithPath: String(format: "%@/%05d.jpg", folder, index)))
        }
        Output.stderr("wrote \(count) \(size) JPEGs from \(sources.count) source photos to \(out)")
    }
}


