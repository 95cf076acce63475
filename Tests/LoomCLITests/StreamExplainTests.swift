import Foundation
import LoomStore
import LoomTestSupport
import Testing

/// `loom stream --json --explain`: each batch line carries the crop box and flip of every sample,
/// in the original's pixels, so another pipeline can be fed the same geometry.
extension CLITests {
    struct ExplainedLine: Decodable {
        struct Crop: Decodable, Equatable {
            struct CacheBox: Decodable, Equatable {
                var image_width: Int
                var image_height: Int
                var top: Int
                var left: Int
                var height: Int
                var width: Int
            }
            var top: Double
            var left: Double
            var height: Double
            var width: Double
            var flip: Bool
            var from: String
            var image_width: Int
            var image_height: Int
            var cache: CacheBox?
        }
        var index: Int?
        var count: Int?
        var digests: [String]?
        var checksum: String?
        var crops: [Crop]?
    }

    @Test("stream --explain: per-sample crop boxes inside the original, deterministic, flips both ways; the cache's boxes say so")
    func streamExplainPrintsTheCropBoxes() throws {
        let temp = try ScratchDirectory()
        let images = try DatasetMaker.write(DatasetMaker.pictures(classes: ["cat", "dog"], perClass: 12, split: "train"),
                                            into: temp, root: "data")
        let byDigest = Dictionary(images.map { (Digest.sha256($0.bytes).hex, $0) }) { first, _ in first }
        let store = CLIStore(temp.appending("store"))
        _ = try store.ingest(temp.appending("data"), dataset: "pets", ["--split", "train"])
        let arguments = ["stream", "--dataset", "pets", "--batch", "5", "--size", "40", "--seed", "3", "--json"]

        let explained = try store.ok(arguments + ["--explain", "--workers", "2"]).decodeLines(ExplainedLine.self).filter { $0.index != nil }
        #expect(explained.count == 5)
        var flips: Set<Bool> = []
        for line in explained {
            let crops = try #require(line.crops, "batch \(line.index!) has no crops")
            #expect(crops.count == line.count && crops.count == line.digests?.count)
            for (crop, digest) in zip(crops, line.digests ?? []) {
                let image = try #require(byDigest[digest])
                #expect(crop.from == "original" && crop.cache == nil)
                #expect(crop.image_width == image.width && crop.image_height == image.height)
                // RandomResizedCrop draws whole-pixel boxes inside the image, 8-100% of its area.
                #expect(crop.left == crop.left.rounded() && crop.top == crop.top.rounded())
                #expect(crop.left >= 0 && crop.top >= 0 && crop.width >= 1 && crop.height >= 1)
                #expect(crop.left + crop.width <= Double(image.width) && crop.top + crop.height <= Double(image.height))
                let fraction = crop.width * crop.height / Double(image.width * image.height)
                #expect(fraction >= 0.07 && fraction <= 1, "\(crop) covers \(fraction) of \(image.width)x\(image.height)")
                flips.insert(crop.flip)
            }
        }
        #expect(flips == [false, true], "24 samples, all flipped the same way")

        // The crops depend on (seed, epoch, sample) only: one worker gives the same, and the
        // pixels (checksums) are what a stream without --explain delivers.
        let again = try store.ok(arguments + ["--explain", "--workers", "1"]).decodeLines(ExplainedLine.self).filter { $0.index != nil }
        #expect(again.map(\.crops) == explained.map(\.crops))
        let plain = try store.ok(arguments).decodeLines(ExplainedLine.self).filter { $0.index != nil }
        #expect(plain.map(\.checksum) == explained.map(\.checksum))
        #expect(plain.allSatisfy { $0.crops == nil }, "crops appear only with --explain")

        // With the pixel cache the crops are cut from its evaluation resize, and the lines say so.
        try store.ok(["cache", "build", "--dataset", "pets", "--split", "train", "--size", "40"])
        let cached = try store.ok(arguments + ["--explain"]).decodeLines(ExplainedLine.self).filter { $0.index != nil }
        let cachedCrops = cached.flatMap { $0.crops ?? [] }
        #expect(cachedCrops.count == 24)
        for crop in cachedCrops {
            #expect(crop.from == "pixel-cache")
            let box = try #require(crop.cache)
            #expect(min(box.image_width, box.image_height) == 45, "cache short side is 40 / 0.875")
            #expect(box.left + box.width <= box.image_width && box.top + box.height <= box.image_height)
            #expect(crop.left + crop.width <= Double(crop.image_width) + 1e-9)
        }
        let uncached = try store.ok(arguments + ["--explain", "--no-cache"]).decodeLines(ExplainedLine.self).filter { $0.index != nil }
        #expect(uncached.map(\.crops) == explained.map(\.crops), "--no-cache crops the originals again")

        let needsJSON = try store.run(["stream", "--dataset", "pets", "--explain"])
        #expect(needsJSON.status != 0 && needsJSON.stderrText.contains("--explain"), "\(needsJSON)")
    }
}
