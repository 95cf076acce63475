/// max(x, 0). The ResNets fuse their ReLUs into BatchNorm and the residual sum; this standalone
/// layer is for other compositions and for checking the fused paths against.
final class ReLU: Layer {
    private let output = FloatBuffer()
    private let gradInput = FloatBuffer()
    private var shape = ActivationShape(channels: 0, batch: 0, height: 0, width: 0)

    var parameters: [Parameter] { [] }

    func forward(_ x: Activation, training: Bool) -> Activation {
        shape = x.shape
        let y = output.reserve(shape.count)
        Parallel.forEachRange(shape.count) { range in
            for i in range { y[i] = max(x.pointer[i], 0) }
        }
        return Activation(pointer: y, shape: shape)
    }

    func backward(_ dy: UnsafePointer<Float>) -> UnsafeMutablePointer<Float>? {
        let (y, dx) = (output.pointer, gradInput.reserve(shape.count))
        Parallel.forEachRange(shape.count) { range in
            for i in range { let g = dy[i]; dx[i] = y[i] > 0 ? g : 0 }  // unconditional load: vectorises
        }
        return dx
    }
}
