import ArgumentParser
import Foundation
import LoomImage
import LoomLoader
import LoomStore

struct BenchDecodeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "decode",
        abstract: "The libjpeg-turbo decode-only limit on a selection's JPEGs: full size, DCT-scaled, and at the loader's own scales and regions.",
        discussion: "Bytes are read into memory first; each figure is img/s on one thread and on --workers threads. Build with -c release.")

    @OptionGroup var options: StoreOptions
    @OptionGroup var selection: SelectionOptions

    @Option(help: "Loader output size, to compute the loader's decode scales.")
    var size: Int = 224

    @Option(help: "train or eval: which transform's decode scales to measure.")
    var augment: Augment = .train

    @Option(help: "Threads for the all-cores figures (default: all cores).")
    var workers: Int = ProcessInfo.processInfo.activeProcessorCount

    @Option(help: "Passes over the images per measurement.")
    var passes: Int = 2

    struct Figure: Codable {
        var name: String
        var images_per_s_one_thread: Double
        var images_per_s_all_threads: Double
        var per_core: Double
    }

    struct Report: Codable {
        var images: Int
        var megabytes: Double
        var workers: Int
        var figures: [Figure]
    }

    func run() throws {
        let store = try options.openReadOnly()
        let table = try SampleTable.load(store, selection: try selection.resolve())
        let decoder = try JPEGDecoder()
        var jpegs: [(bytes: [UInt8], header: JPEGHeader, loader: (scale: JPEGScale, region: PixelRect))] = []
        let renderer = try SampleRenderer(spec: TransformSpec(size: size, augment: augment))
        for (index, location) in table.locations.enumerated() {
            let bytes = try store.blobs.read(location, verifyDigest: false)
            guard let header = try? bytes.withUnsafeBytes({ try decoder.readHeader($0) }) else { continue }
            var rng = SplitMix64(keys: 0, 0, UInt64(index), 0x4155_474D)
            jpegs.append((bytes, header, renderer.plannedDecode(width: header.width, height: header.height, rng: &rng)))
        }
        guard !jpegs.isEmpty else { throw ValidationError("the selection has no JPEG images") }
        let images = jpegs
        let passes = max(1, self.passes)
        func measure(_ name: String, regions: Bool = false, _ pickScale: @escaping @Sendable (JPEGHeader, JPEGScale) -> JPEGScale) -> Figure {
            func rate(_ threads: Int) -> Double {
                let seconds = timedParallel(count: images.count * passes, workers: threads, makeState: {
                    (decoder: try? JPEGDecoder(), region: try? JPEGRegionDecoder(), buffer: [UInt8](), scratch: [UInt8]())
                }) { state, i in
                    let image = images[i % images.count]
                    let scale = pickScale(image.header, image.loader.scale)
                    // Room for the whole image, or any region of it.
                    let needed = JPEGRegionDecoder.capacity(width: scale.scaled(image.header.width), height: scale.scaled(image.header.height))
                    if state.buffer.count < needed { state.buffer = [UInt8](repeating: 0, count: needed) }
                    image.bytes.withUnsafeBytes { jpeg in
                        state.buffer.withUnsafeMutableBytes { out in
                            if regions, image.header.colorSpace != .cmyk {
                                _ = try? state.region?.decode(jpeg, scale: scale, scaledWidth: scale.scaled(image.header.width),
                                                              scaledHeight: scale.scaled(image.header.height),
                                                              covering: image.loader.region, into: out)
                            } else {
                                try? state.decoder?.decodeRGB(jpeg, header: image.header, scale: scale, into: out, scratch: &state.scratch)
                            }
                        }
                    }
                }
                return Double(images.count * passes) / seconds
            }
            let one = rate(1), all = rate(workers)
            return Figure(name: name, images_per_s_one_thread: one, images_per_s_all_threads: all, per_core: all / Double(workers))
        }
        let figures = [
            measure("full size") { _, _ in .full },
            measure("1/2 scale") { _, _ in JPEGScale(numerator: 1, denominator: 2) },
            measure("loader scales (\(augment.rawValue) \(size)px)") { _, loader in loader },
            measure("loader scales + regions", regions: true) { _, loader in loader },
        ]
        let megabytes = Double(images.reduce(0) { $0 + $1.bytes.count }) / 1e6
        let report = Report(images: images.count, megabytes: megabytes, workers: workers, figures: figures)
        if options.json { return try Output.json(report) }
        Output.stdout(String(format: "%d JPEGs, %.1f MB, decode to RGB (libjpeg-turbo), %d threads", images.count, megabytes, workers))
        for f in figures {
            let padded = f.name.count < 34 ? f.name + String(repeating: " ", count: 34 - f.name.count) : f.name
            Output.stdout("  " + padded + String(format: "1 thread %7.0f img/s   %d threads %7.0f img/s",
                                                 f.images_per_s_one_thread, workers, f.images_per_s_all_threads))
        }
    }
}
