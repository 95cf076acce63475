import Foundation

/// How samples become training or evaluation pixels.
public enum Augment: String, Sendable, Codable, CaseIterable {
    /// RandomResizedCrop (scale 0.08-1, ratio 3/4-4/3) + horizontal flip, as torchvision.
    case train
    /// Resize the short side to `size / 0.875` (256 for 224), then centre-crop `size`.
    case eval
}

/// The output geometry and augmentation of a loader.
public struct TransformSpec: Sendable, Hashable {
    public var size: Int
    public var augment: Augment
    public var scale: ClosedRange<Double>
    public var ratio: ClosedRange<Double>
    public var flipProbability: Double
    /// Evaluation resizes the short side to `size / evalCropFraction` before the centre crop.
    public var evalCropFraction: Double

    public init(size: Int, augment: Augment, scale: ClosedRange<Double> = 0.08...1.0,
                ratio: ClosedRange<Double> = (3.0 / 4.0)...(4.0 / 3.0), flipProbability: Double = 0.5,
                evalCropFraction: Double = 0.875) {
        self.size = size
        self.augment = augment
        self.scale = scale
        self.ratio = ratio
        self.flipProbability = flipProbability
        self.evalCropFraction = evalCropFraction
    }

    /// Short side of the evaluation resize (256 for 224), also the pixel cache's short side.
    public var evalResize: Int { Int((Double(size) / evalCropFraction).rounded(.down)) }

    /// Bytes of one sample's pixels (RGB8, size x size).
    public var sampleBytes: Int { size * size * 3 }
}

/// Where the output pixels come from in a source image.
struct CropPlan: Equatable {
    /// In source pixels.
    var region: (x: Double, y: Double, width: Double, height: Double)
    var virtualWidth: Int
    var virtualHeight: Int
    var windowX: Int
    var windowY: Int
    var flip: Bool

    static func == (lhs: CropPlan, rhs: CropPlan) -> Bool {
        lhs.region == rhs.region && lhs.virtualWidth == rhs.virtualWidth && lhs.virtualHeight == rhs.virtualHeight
            && lhs.windowX == rhs.windowX && lhs.windowY == rhs.windowY && lhs.flip == rhs.flip
    }

    /// torchvision's `RandomResizedCrop.get_params`: ten tries at a random area and aspect ratio,
    /// then a centre crop clamped to the ratio range.
    static func randomResizedCrop(width: Int, height: Int, spec: TransformSpec, rng: inout SplitMix64) -> CropPlan {
        let area = Double(width * height)
        let logRatio = log(spec.ratio.lowerBound)...log(spec.ratio.upperBound)
        func plan(_ x: Int, _ y: Int, _ w: Int, _ h: Int, _ rng: inout SplitMix64) -> CropPlan {
            let flip = rng.unit() < spec.flipProbability
            return CropPlan(region: (Double(x), Double(y), Double(w), Double(h)), virtualWidth: spec.size, virtualHeight: spec.size,
                            windowX: 0, windowY: 0, flip: flip)
        }
        for _ in 0..<10 {
            let targetArea = area * (spec.scale.lowerBound + rng.unit() * (spec.scale.upperBound - spec.scale.lowerBound))
            let aspect = exp(logRatio.lowerBound + rng.unit() * (logRatio.upperBound - logRatio.lowerBound))
            let w = Int((targetArea * aspect).squareRoot().rounded())
            let h = Int((targetArea / aspect).squareRoot().rounded())
            if w > 0, w <= width, h > 0, h <= height {
                let y = rng.int(in: 0...(height - h))
                let x = rng.int(in: 0...(width - w))
                return plan(x, y, w, h, &rng)
            }
        }
        let inRatio = Double(width) / Double(height)
        var w = width, h = height
        if inRatio < spec.ratio.lowerBound {
            h = Int((Double(w) / spec.ratio.lowerBound).rounded())
        } else if inRatio > spec.ratio.upperBound {
            w = Int((Double(h) * spec.ratio.upperBound).rounded())
        }
        return plan((width - w) / 2, (height - h) / 2, w, h, &rng)
    }

    /// The evaluation transform as a window of the resized image (torchvision `Resize(int)` +
    /// `CenterCrop`): the short side becomes `resize`, the long side `int(resize * long / short)`;
    /// the crop offset rounds half to even, as Python's `round` does.
    static func evaluation(width: Int, height: Int, size: Int, resize: Int) -> CropPlan {
        let (vw, vh) = resizedSize(width: width, height: height, shortSide: resize)
        let cropW = min(size, vw), cropH = min(size, vh)
        return CropPlan(
            region: (0, 0, Double(width), Double(height)), virtualWidth: vw, virtualHeight: vh,
            windowX: Int((Double(vw - cropW) / 2).rounded(.toNearestOrEven)),
            windowY: Int((Double(vh - cropH) / 2).rounded(.toNearestOrEven)), flip: false)
    }

    static func resizedSize(width: Int, height: Int, shortSide: Int) -> (Int, Int) {
        width <= height ? (shortSide, shortSide * height / width) : (shortSide * width / height, shortSide)
    }
}
