import Foundation
import LoomImage
import LoomIngest
import LoomStore
import LoomTestSupport

/// A small real dataset that a classifier can learn: class "n01 ember" holds noisy reddish PNGs,
/// "n02 ocean" noisy bluish ones (train and val splits). The class names carry no colour, but
/// builtin:stats captions do ("... mostly red ..."), and builtin:procedural paints colour words,
/// so in this fixture caption prompts carry the signal and class-name prompts do not.
struct ColorDataset {
    let temp: TemporaryDirectory
    let store: Store

    static let classes = [("n01", "ember", (200.0, 45.0, 40.0)), ("n02", "ocean", (40.0, 70.0, 200.0))]

    init(train: Int = 40, val: Int = 12, side: Int = 24) throws {
        temp = try TemporaryDirectory()
        var rng = SeededGenerator(seed: 42)
        for (split, count) in [("train", train), ("val", val)] {
            for (wnid, _, color) in Self.classes {
                for index in 0..<count {
                    let png = try Self.image(color: color, side: side, rng: &rng)
                    _ = try temp.write(png, to: "data/\(split)/\(wnid)/\(wnid)_\(index).png")
                }
            }
        }
        _ = try temp.write(Self.classes.map { "\($0.0) \($0.1)" }.joined(separator: "\n") + "\n", to: "data/LOC_synset_mapping.txt")
        store = try Store(StoreLayout(root: temp.appending("store")), access: .readWrite)
        _ = try Ingestor(store: store, options: .init(dataset: "ds", workers: 1)).run(root: temp.appending("data"))
    }

    static func image(color: (Double, Double, Double), side: Int, rng: inout SeededGenerator) throws -> [UInt8] {
        let brightness = 0.7 + 0.5 * rng.nextUnit()
        var pixels = [UInt8](repeating: 0, count: side * side * 3)
        for i in 0..<(side * side) {
            for (c, base) in [color.0, color.1, color.2].enumerated() {
                let value = base * brightness + (rng.nextUnit() - 0.5) * 80
                pixels[i * 3 + c] = UInt8(max(0, min(255, value.rounded())))
            }
        }
        return try pixels.withUnsafeBytes { try PNGCodec.encode($0, width: side, height: side, channels: 3) }
    }
}
