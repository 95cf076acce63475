/// Mean over each H x W plane: C x N x H x W becomes C x N x 1 x 1 (torch's `AdaptiveAvgPool2d(1)`).
final class GlobalAveragePool: Layer {
    private let output = FloatBuffer()
    private let gradInput = FloatBuffer()
    private var inputShape = ActivationShape(channels: 0, batch: 0, height: 0, width: 0)

    var parameters: [Parameter] { [] }

    func forward(_ x: Activation, training: Bool) -> Activation {
        inputShape = x.shape
        let planes = x.shape.channels * x.shape.batch
        let y = output.reserve(planes)
        let plane = x.shape.plane
        Parallel.forEach(planes, work: x.shape.count) { p in
            y[p] = Float(Reductions.sum(x.pointer + p * plane, count: plane) / Double(plane))
        }
        return Activation(pointer: y, shape: ActivationShape(channels: x.shape.channels, batch: x.shape.batch, height: 1, width: 1))
    }

    func backward(_ dy: UnsafePointer<Float>) -> UnsafeMutablePointer<Float>? {
        let dx = gradInput.reserve(inputShape.count)
        let plane = inputShape.plane
        let scale = 1 / Float(plane)
        Parallel.forEach(inputShape.channels * inputShape.batch, work: inputShape.count) { p in
            (dx + p * plane).update(repeating: dy[p] * scale, count: plane)
        }
        return dx
    }
}
