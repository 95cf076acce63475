/// The window of a square 2-D convolution or pooling: kernel side, stride and zero padding.
struct ConvGeometry: Hashable {
    var kernel: Int
    var stride: Int
    var padding: Int

    /// Output side for an input side, as torch computes it (floor).
    func outputSize(_ input: Int) -> Int { (input + 2 * padding - kernel) / stride + 1 }

    /// Output positions `o` whose input coordinate `o * stride - padding + offset` lies inside
    /// `0..<inputSize`: the part of an im2col row that is not padding.
    func validOutputs(offset: Int, inputSize: Int, outputSize: Int) -> Range<Int> {
        let low = max(0, Self.ceilDiv(padding - offset, stride))
        let high = min(outputSize, Self.floorDiv(inputSize - 1 + padding - offset, stride) + 1)
        return low..<max(low, high)
    }

    private static func floorDiv(_ a: Int, _ b: Int) -> Int { a >= 0 ? a / b : -((-a + b - 1) / b) }
    private static func ceilDiv(_ a: Int, _ b: Int) -> Int { -floorDiv(-a, b) }
}
