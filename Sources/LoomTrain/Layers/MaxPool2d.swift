/// Max pooling with implicit -inf padding (torch's `MaxPool2d`; the ImageNet stem's is 3x3,
/// stride 2, padding 1).
///
/// Forward records, per output, the index in its input plane of the first maximum (torch's tie
/// rule); backward routes each output gradient to that position. Work is split per (channel,
/// image) plane, so the scatter never races.
final class MaxPool2d: Layer {
    let geometry: ConvGeometry
    private let output = FloatBuffer()
    private let gradInput = FloatBuffer()
    private var argmax: [Int32] = []
    private var inputShape = ActivationShape(channels: 0, batch: 0, height: 0, width: 0)
    private var outputShape = ActivationShape(channels: 0, batch: 0, height: 0, width: 0)

    init(kernel: Int, stride: Int, padding: Int) {
        geometry = ConvGeometry(kernel: kernel, stride: stride, padding: padding)
    }

    var parameters: [Parameter] { [] }

    func forward(_ x: Activation, training: Bool) -> Activation {
        inputShape = x.shape
        outputShape = ActivationShape(channels: x.shape.channels, batch: x.shape.batch,
                                      height: geometry.outputSize(x.shape.height), width: geometry.outputSize(x.shape.width))
        if argmax.count < outputShape.count { argmax = [Int32](repeating: 0, count: outputShape.count) }
        let y = output.reserve(outputShape.count)
        let (inShape, outShape, g) = (inputShape, outputShape, geometry)
        argmax.withUnsafeMutableBufferPointer { argmax in
            let argmax = argmax.baseAddress!
            Parallel.forEach(inShape.channels * inShape.batch, work: outShape.count * g.kernel * g.kernel) { plane in
                let source = x.pointer + plane * inShape.plane
                let (target, index) = (y + plane * outShape.plane, argmax + plane * outShape.plane)
                for oy in 0..<outShape.height {
                    let ys = max(0, oy * g.stride - g.padding)..<min(inShape.height, oy * g.stride - g.padding + g.kernel)
                    for ox in 0..<outShape.width {
                        let xs = max(0, ox * g.stride - g.padding)..<min(inShape.width, ox * g.stride - g.padding + g.kernel)
                        var best = -Float.infinity
                        var bestIndex = ys.lowerBound * inShape.width + xs.lowerBound
                        for iy in ys {
                            for ix in xs {
                                let v = source[iy * inShape.width + ix]
                                if v > best || v.isNaN { best = v; bestIndex = iy * inShape.width + ix }
                            }
                        }
                        target[oy * outShape.width + ox] = best
                        index[oy * outShape.width + ox] = Int32(bestIndex)
                    }
                }
            }
        }
        return Activation(pointer: y, shape: outputShape)
    }

    func backward(_ dy: UnsafePointer<Float>) -> UnsafeMutablePointer<Float>? {
        let dx = gradInput.reserve(inputShape.count)
        let (inShape, outShape) = (inputShape, outputShape)
        argmax.withUnsafeBufferPointer { argmax in
            let argmax = argmax.baseAddress!
            Parallel.forEach(inShape.channels * inShape.batch, work: inShape.count) { plane in
                let target = dx + plane * inShape.plane
                target.update(repeating: 0, count: inShape.plane)
                let (grad, index) = (dy + plane * outShape.plane, argmax + plane * outShape.plane)
                for o in 0..<outShape.plane { target[Int(index[o])] += grad[o] }
            }
        }
        return dx
    }
}
