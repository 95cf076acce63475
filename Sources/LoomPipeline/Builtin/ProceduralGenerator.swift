import Foundation
import LoomImage
import LoomStore

/// `builtin:procedural`: an offline stand-in for an image generator. It is not a diffusion model
/// and draws nothing the prompt describes: it renders a gradient background and one shape per
/// prompt word, with colours taken from the words (a colour word such as "red" gives that
/// colour, any other word a colour from its hash) and positions and sizes from the words and the
/// seed. Same (prompt, seed, size) gives the same JPEG bytes (quality 90, 4:2:0). Steps and
/// guidance are recorded but do not change the output.
public final class ProceduralGenerator: Generator {
    public let name = "loom-builtin-procedural"
    public let version = "1"
    public let params: [String: String] = ["quality": "90"]
    public let backend = "builtin:procedural"
    private let encoder: JPEGEncoder

    public init() throws { encoder = try JPEGEncoder() }

    public func generate(_ batch: [GenerationRequest]) -> [Result<GeneratedImage, any Error>] {
        batch.map { request in
            Result {
                let start = ContinuousClock.now
                let bytes = try render(prompt: request.prompt, seed: request.seed, width: request.width, height: request.height)
                return GeneratedImage(bytes: bytes, mediaType: "image/jpeg", seconds: (ContinuousClock.now - start) / .seconds(1))
            }
        }
    }

    /// The JPEG for `prompt` and `seed` at `width x height`.
    public func render(prompt: String, seed: Int64, width: Int, height: Int) throws -> [UInt8] {
        guard (1...8192).contains(width), (1...8192).contains(height) else {
            throw PipelineError(.invalidInput, "procedural size \(width)x\(height) is outside 1...8192")
        }
        let pixels = Self.pixels(prompt: prompt, seed: seed, width: width, height: height)
        return try pixels.withUnsafeBytes { buffer in
            try encoder.encode(buffer, width: width, height: height, layout: .rgb, quality: 90, subsampling: .s420)
        }
    }

    static let namedColors: [String: (Double, Double, Double)] = [
        "red": (220, 30, 30), "orange": (240, 140, 20), "yellow": (240, 220, 40), "green": (40, 170, 60),
        "blue": (30, 70, 220), "purple": (130, 50, 180), "pink": (240, 120, 180), "brown": (120, 75, 35),
        "black": (15, 15, 15), "white": (245, 245, 245), "gray": (128, 128, 128), "grey": (128, 128, 128),
        "cyan": (30, 200, 220),
    ]

    /// Packed RGB pixels.
    static func pixels(prompt: String, seed: Int64, width: Int, height: Int) -> [UInt8] {
        let words = prompt.lowercased().split { !($0.isLetter || $0.isNumber) }.map(String.init)
        let promptHash = words.reduce(fnv1a("")) { mix($0 ^ fnv1a($1)) }
        var rng = SplitMix(state: promptHash ^ mix(UInt64(bitPattern: seed)))
        func color(of word: String) -> (Double, Double, Double) {
            if let named = namedColors[word] { return named }
            let h = mix(fnv1a(word))
            return (Double(h & 0xFF), Double(h >> 8 & 0xFF), Double(h >> 16 & 0xFF))
        }
        let top = words.first.map(color) ?? (128, 128, 128)
        let bottom = words.last.map(color) ?? (64, 64, 64)
        let angle = rng.unit() * 2 * Double.pi
        let (ca, sa) = (cos(angle), sin(angle))

        struct Shape { var ellipse: Bool; var cx, cy, rx, ry: Double; var color: (Double, Double, Double) }
        let shapes = words.prefix(12).map { word in
            Shape(ellipse: fnv1a(word) & 1 == 0, cx: rng.unit(), cy: rng.unit(),
                  rx: 0.08 + 0.22 * rng.unit(), ry: 0.08 + 0.22 * rng.unit(), color: color(of: word))
        }

        var out = [UInt8](repeating: 0, count: width * height * 3)
        for y in 0..<height {
            let v = (Double(y) + 0.5) / Double(height)
            for x in 0..<width {
                let u = (Double(x) + 0.5) / Double(width)
                // Background: the first and last words' colours blended along a seeded direction.
                let t = min(1, max(0, 0.5 + (u - 0.5) * ca + (v - 0.5) * sa))
                var c = (top.0 + (bottom.0 - top.0) * t, top.1 + (bottom.1 - top.1) * t, top.2 + (bottom.2 - top.2) * t)
                for shape in shapes {
                    let du = (u - shape.cx) / shape.rx, dv = (v - shape.cy) / shape.ry
                    if shape.ellipse ? du * du + dv * dv <= 1 : abs(du) <= 1 && abs(dv) <= 1 { c = shape.color }
                }
                let o = (y * width + x) * 3
                out[o] = UInt8(max(0, min(255, c.0.rounded())))
                out[o + 1] = UInt8(max(0, min(255, c.1.rounded())))
                out[o + 2] = UInt8(max(0, min(255, c.2.rounded())))
            }
        }
        return out
    }

    static func fnv1a(_ text: String) -> UInt64 {
        var hash: UInt64 = 0xCBF2_9CE4_8422_2325
        for byte in text.utf8 { hash = (hash ^ UInt64(byte)) &* 0x0000_0100_0000_01B3 }
        return hash
    }
}

/// SplitMix64's finaliser: a well-mixed 64-bit function of a 64-bit value.
func mix(_ value: UInt64) -> UInt64 {
    var z = value &+ 0x9E37_79B9_7F4A_7C15
    z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
    z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
    return z ^ (z >> 31)
}

struct SplitMix {
    var state: UInt64
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    mutating func unit() -> Double { Double(next() >> 11) / Double(1 << 53) }
}
