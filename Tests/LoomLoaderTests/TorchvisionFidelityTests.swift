import Foundation
import LoomImage
import LoomIngest
import LoomLoader
import LoomStore
import LoomTestSupport
import Testing

/// The loader's pixels against torchvision's on the crop boxes and flips the loader chose
/// (``Loader/cropChoice(sample:)``, what `loom stream --json --explain` prints): PIL's path
/// (`F.resized_crop(img, top, left, h, w, size, BILINEAR)`) and the tensor path with
/// `antialias=True`, rendered by tools/bench/transforms_reference.py in the project venv. The
/// venv has no torchvision (its PyPI wheel is a CUDA build), so the script runs the exact
/// operations torchvision does (PIL crop + resize; `interpolate(antialias=True)` on the uint8
/// crop), checked bit-identical to torchvision 0.28.0; with torchvision importable it uses it.
@Suite(.serialized) struct TorchvisionFidelityTests {
    static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().path
    static let python = repository + "/.venv/bin/python"
    static let script = repository + "/tools/bench/transforms_reference.py"
    static let venvExists = FileManager.default.isExecutableFile(atPath: python)
    static let skipReason: Comment = "no project venv (.venv/bin/python with torch and Pillow): run tools/setup"

    /// Real photographs (Debian's mate-backgrounds, which tools/bench/photos installs), cut to
    /// `width x height` JPEGs (q90 4:2:0) as `loom bench corpus` does; photo-like fixtures when
    /// the package is missing (printed).
    static func photos(count: Int, skip: Int, width: Int, height: Int) throws -> [[UInt8]] {
        let root = "/usr/share/backgrounds/mate"
        let names = (FileManager.default.enumerator(atPath: root)?.compactMap { $0 as? String } ?? [])
            .filter { $0.lowercased().hasSuffix(".jpg") }.sorted()
        let decoder = try JPEGDecoder(), encoder = try JPEGEncoder()
        var out: [[UInt8]] = []
        var skipped = 0
        for name in names where out.count < count {
            guard let data = FileManager.default.contents(atPath: root + "/" + name) else { continue }
            let bytes = [UInt8](data)
            let encoded: [UInt8]? = try bytes.withUnsafeBytes { raw in
                let header = try decoder.readHeader(raw)
                guard header.colorSpace == .rgb else { return nil }
                let scale = JPEGScale.accelerated.last { $0.scaled(header.width) >= width && $0.scaled(header.height) >= height }
                guard let scale else { return nil }
                let w = scale.scaled(header.width), h = scale.scaled(header.height)
                var pixels = [UInt8](repeating: 0, count: w * h * 3), scratch: [UInt8] = []
                try pixels.withUnsafeMutableBytes { try decoder.decodeRGB(raw, header: header, scale: scale, into: $0, scratch: &scratch) }
                var cut = [UInt8](repeating: 0, count: width * height * 3)
                let x0 = (w - width) / 2, y0 = (h - height) / 2
                for y in 0..<height {
                    let from = ((y0 + y) * w + x0) * 3
                    cut.replaceSubrange((y * width * 3)..<((y + 1) * width * 3), with: pixels[from..<(from + width * 3)])
                }
                return try cut.withUnsafeBytes { try encoder.encode($0, width: width, height: height, layout: .rgb, quality: 90) }
            }
            guard let encoded else { continue }
            if skipped < skip { skipped += 1; continue }
            out.append(encoded)
        }
        if out.count < count {
            print("TorchvisionFidelityTests: \(root) has \(out.count) usable photos (install mate-backgrounds); "
                  + "photo-like fixtures stand in for the other \(count - out.count)")
            for i in out.count..<count { out.append(FixtureImages.jpeg(width: width, height: height, seed: UInt64(900 + skip + i))) }
        }
        return out
    }

    /// Fashion-MNIST training images (28x28 grey PNGs, as `loom dataset` exports them) from the
    /// system's dataset files, written by the reference script; fixtures when they are missing.
    static func fashionMNIST(count: Int, into directory: TemporaryDirectory) throws -> [[UInt8]] {
        let folder = directory.appending("fmnist")
        if FileManager.default.fileExists(atPath: "/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz") {
            _ = try runPython(["fmnist", folder, String(count)], directory: directory)
            let files = (FileManager.default.enumerator(atPath: folder)?.compactMap { $0 as? String } ?? [])
                .filter { $0.hasSuffix(".png") }.sorted()
            return files.compactMap { FileManager.default.contents(atPath: folder + "/" + $0).map { [UInt8]($0) } }
        }
        print("TorchvisionFidelityTests: no Fashion-MNIST under /usr/share/datasets (tools/setup installs it); using 28x28 fixtures")
        return (0..<count).map { FixtureImages.png(width: 28, height: 28, seed: UInt64(3000 + $0), channels: 1) }
    }

    @discardableResult
    static func runPython(_ arguments: [String], directory: TemporaryDirectory) throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: python)
        process.arguments = [script] + arguments
        let stdout = directory.appending("python.out"), stderr = directory.appending("python.err")
        FileManager.default.createFile(atPath: stdout, contents: nil)
        FileManager.default.createFile(atPath: stderr, contents: nil)
        process.standardOutput = FileHandle(forWritingAtPath: stdout)
        process.standardError = FileHandle(forWritingAtPath: stderr)
        try process.run()
        process.waitUntilExit()
        let printed = (try? String(contentsOfFile: stdout, encoding: .utf8)) ?? ""
        guard process.terminationStatus == 0 else {
            let errors = (try? String(contentsOfFile: stderr, encoding: .utf8)) ?? ""
            throw LoaderError("transforms_reference.py \(arguments.first ?? "") exited \(process.terminationStatus):\n\(errors)")
        }
        return printed
    }

    struct Stats: Decodable {
        var mean: Double
        var p999: Double
        var max: Int
    }

    struct Group: Decodable {
        var samples: Int
        var pil: Stats
        var tensor: Stats
    }

    struct Report: Decodable {
        var backend: String
        var groups: [String: Group]
    }

    /// Ingests `images` as dataset "ds", streams `epochs` epochs of `spec` (pixel cache off:
    /// every sample from its original), and has the script compare each sample with torchvision
    /// on the loader's own crop choice.
    static func measure(_ images: [(name: String, bytes: [UInt8])], spec: TransformSpec, epochs: Int,
                        in directory: TemporaryDirectory) throws -> Report {
        var pathByDigest: [Digest: String] = [:]
        for image in images {
            pathByDigest[Digest.sha256(image.bytes)] = try directory.write(image.bytes, to: "data/train/c0/" + image.name)
        }
        let store = try Store(StoreLayout(root: directory.appending("store-\(spec.size)-\(spec.augment)")), access: .readWrite)
        let summary = try Ingestor(store: store, options: .init(dataset: "ds", workers: 2)).run(root: directory.appending("data"))
        try #require(summary.rejected.isEmpty, "ingest rejected \(summary.rejected)")
        let table = try SampleTable.load(store, selection: Selection(dataset: "ds", split: "train"))
        var pixels: [UInt8] = []
        var samples: [[String: Any]] = []
        for epoch in 0..<epochs {
            let loader = try Loader(store: store, table: table, spec: spec, config: SamplerConfig(seed: 17), epoch: epoch,
                                    options: .init(batchSize: 16, workers: 2, useCache: false))
            while let view = try loader.next() {
                pixels += view.pixels
                for sample in view.samples {
                    let choice = try loader.cropChoice(sample: Int(sample))
                    #expect(choice.from == .original)
                    let path = try #require(pathByDigest[table.locations[Int(sample)].digest])
                    var entry: [String: Any] = [
                        "image": path, "augment": spec.augment.rawValue, "group": group(choice, size: spec.size),
                        "top": choice.top, "left": choice.left, "height": choice.height, "width": choice.width, "flip": choice.flip,
                    ]
                    if let resize = choice.resize {
                        entry["resize"] = ["width": resize.width, "height": resize.height, "left": resize.left, "top": resize.top]
                    }
                    samples.append(entry)
                }
            }
        }
        let pixelsPath = try directory.write(pixels, to: "loom-\(spec.size)-\(spec.augment).rgb")
        let manifest = try JSONSerialization.data(withJSONObject: ["size": spec.size, "pixels": pixelsPath, "samples": samples])
        let manifestPath = try directory.write([UInt8](manifest), to: "manifest-\(spec.size)-\(spec.augment).json")
        let printed = try runPython(["compare", manifestPath], directory: directory)
        let report = try JSONDecoder().decode(Report.self, from: Data(printed.utf8))
        for (name, g) in report.groups.sorted(by: { $0.key < $1.key }) {
            print(String(format: "fidelity %d px %@ %@ (%d samples): PIL mean %.3f p99.9 %.1f max %d; tensor mean %.3f p99.9 %.1f max %d",
                         spec.size, spec.augment.rawValue, name, g.samples, g.pil.mean, g.pil.p999, g.pil.max,
                         g.tensor.mean, g.tensor.p999, g.tensor.max))
        }
        print("fidelity reference: \(report.backend)")
        return report
    }

    /// Which way the crop is resized: both sides shrink, both grow, or one of each.
    static func group(_ choice: CropChoice, size: Int) -> String {
        if choice.resize != nil { return "eval" }
        let s = Double(size)
        if choice.width > s && choice.height > s { return "downscale" }
        if choice.width <= s && choice.height <= s { return "upscale" }
        return "both"
    }

    static func expectWithinBounds(_ report: Report, groups: [String], label: String) {
        for name in groups {
            guard let g = report.groups[name] else {
                Issue.record("\(label): no sample fell in group \(name) (groups: \(report.groups.keys.sorted()))")
                continue
            }
            for (path, stats) in [("PIL", g.pil), ("tensor", g.tensor)] {
                #expect(stats.mean <= 1.0, "\(label) \(name) \(path): mean absolute difference \(stats.mean) > 1 grey level")
                #expect(stats.p999 <= 8.0, "\(label) \(name) \(path): 99.9th percentile \(stats.p999) > 8 grey levels")
            }
        }
    }

    /// 500x375 photos (ImageNet-like: crops that shrink, grow, or both) and 1024x768 ones (big
    /// crops there decode at a reduced DCT scale first).
    static func photoSet() throws -> [(name: String, bytes: [UInt8])] {
        let small = try photos(count: 8, skip: 0, width: 500, height: 375)
        let large = try photos(count: 4, skip: 8, width: 1024, height: 768)
        return small.enumerated().map { ("small_\($0.offset).jpg", $0.element) }
            + large.enumerated().map { ("large_\($0.offset).jpg", $0.element) }
    }

    @Test(.enabled(if: venvExists, skipReason))
    func trainingCropsOfPhotosAt224MatchTorchvision() throws {
        let directory = try TemporaryDirectory(prefix: "loom-fidelity-")
        let report = try Self.measure(try Self.photoSet(), spec: TransformSpec(size: 224, augment: .train), epochs: 8,
                                      in: directory)
        Self.expectWithinBounds(report, groups: ["downscale", "upscale", "both"], label: "photos 224 train")
    }

    @Test(.enabled(if: venvExists, skipReason))
    func evaluationOfPhotosAt224MatchesTorchvision() throws {
        let directory = try TemporaryDirectory(prefix: "loom-fidelity-")
        let report = try Self.measure(try Self.photoSet(), spec: TransformSpec(size: 224, augment: .eval), epochs: 1,
                                      in: directory)
        Self.expectWithinBounds(report, groups: ["eval"], label: "photos 224 eval")
        let eval = try #require(report.groups["eval"])
        #expect(eval.pil.mean <= 0.5 && eval.tensor.mean <= 0.5, "evaluation drifted from torchvision's resize")
    }

    @Test(.enabled(if: venvExists, skipReason))
    func fashionMNISTAt32MatchesTorchvision() throws {
        let directory = try TemporaryDirectory(prefix: "loom-fidelity-")
        let images = try Self.fashionMNIST(count: 48, into: directory).enumerated().map { (String(format: "f%03d.png", $0.offset), $0.element) }
        try #require(images.count == 48)
        let train = try Self.measure(images, spec: TransformSpec(size: 32, augment: .train), epochs: 3, in: directory)
        Self.expectWithinBounds(train, groups: ["upscale"], label: "fashion-mnist 32 train")
        let eval = try Self.measure(images, spec: TransformSpec(size: 32, augment: .eval), epochs: 1, in: directory)
        Self.expectWithinBounds(eval, groups: ["eval"], label: "fashion-mnist 32 eval")
    }
}
