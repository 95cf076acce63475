extension Loader.BatchView {
    /// ImageNet's channel statistics, the usual normalisation for classifiers.
    public static let imageNetMean: (Float, Float, Float) = (0.485, 0.456, 0.406)
    public static let imageNetStd: (Float, Float, Float) = (0.229, 0.224, 0.225)

    /// Writes the batch as `Float` NCHW, `(pixel / 255 - mean) / std` per channel — what
    /// torchvision's `ToTensor` + `Normalize` produce.
    /// - Parameter destination: at least `count * 3 * size * size` floats.
    public func normalizedCHW(
        size: Int, mean: (Float, Float, Float) = imageNetMean, std: (Float, Float, Float) = imageNetStd,
        into destination: UnsafeMutableBufferPointer<Float>
    ) {
        let plane = size * size
        precondition(destination.count >= count * 3 * plane && pixels.count >= count * 3 * plane, "buffer too small")
        let scale = [1 / (255 * std.0), 1 / (255 * std.1), 1 / (255 * std.2)]
        let shift = [-mean.0 / std.0, -mean.1 / std.1, -mean.2 / std.2]
        let source = pixels.bindMemory(to: UInt8.self)
        for n in 0..<count {
            let image = n * 3 * plane
            for c in 0..<3 {
                let (a, b) = (scale[c], shift[c])
                let out = image + c * plane
                for i in 0..<plane {
                    destination[out + i] = Float(source[image + i * 3 + c]) * a + b
                }
            }
        }
    }
}
