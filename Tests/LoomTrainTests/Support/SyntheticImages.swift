import LoomLoader

/// A small separable image task: four classes, each a coloured pattern with a random phase,
/// under Gaussian noise. Written NCHW, like the loader's `normalizedCHW`.
enum SyntheticImages {
    static let classes = 4

    /// `count` images of side `size` and their labels, reproducible from `seed`.
    static func make(count: Int, size: Int, seed: UInt64, noise: Double = 0.5) -> (pixels: [Float], labels: [Int32]) {
        var rng = SplitMix64(seed: seed)
        let plane = size * size
        var pixels = [Float](repeating: 0, count: count * 3 * plane)
        var labels: [Int32] = []
        for n in 0..<count {
            let label = rng.int(in: 0...(classes - 1))
            labels.append(Int32(label))
            let phase = rng.int(in: 0...3)
            for y in 0..<size {
                for x in 0..<size {
                    var rgb: (Float, Float, Float) = (0, 0, 0)
                    switch label {
                    case 0: rgb.0 = ((y + phase) / 2) % 2 == 0 ? 1 : -1               // red horizontal stripes
                    case 1: rgb.1 = ((x + phase) / 2) % 2 == 0 ? 1 : -1               // green vertical stripes
                    case 2: rgb.2 = ((x + y + phase) / 2) % 2 == 0 ? 1 : -1           // blue diagonal stripes
                    default:                                                            // grey checkerboard
                        let v: Float = ((x + phase) / 2 + y / 2) % 2 == 0 ? 0.8 : -0.8
                        rgb = (v, v, v)
                    }
                    let base = n * 3 * plane + y * size + x
                    pixels[base] = rgb.0 + Float(Random.normal(&rng) * noise)
                    pixels[base + plane] = rgb.1 + Float(Random.normal(&rng) * noise)
                    pixels[base + 2 * plane] = rgb.2 + Float(Random.normal(&rng) * noise)
                }
            }
        }
        return (pixels, labels)
    }
}
