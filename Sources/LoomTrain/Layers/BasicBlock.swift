import LoomLoader

/// ResNet's basic block (torchvision `BasicBlock`): two 3x3 convolutions with BatchNorm, the
/// first with the block's stride and a fused ReLU, plus a shortcut, then ReLU of the sum.
final class BasicBlock: Layer {
    let conv1: Conv2d
    let bn1: BatchNorm2d
    let conv2: Conv2d
    let bn2: BatchNorm2d
    /// Present when the stride or the width changes, as in torchvision.
    let downsample: Downsample?
    private let output = FloatBuffer()
    private let gradSum = FloatBuffer()
    private var shape = ActivationShape(channels: 0, batch: 0, height: 0, width: 0)
    private var input: Activation?

    init(name: String, inChannels: Int, channels: Int, stride: Int, workspace: Workspace, rng: inout SplitMix64) {
        conv1 = Conv2d(name: name + ".conv1", inChannels: inChannels, outChannels: channels, kernel: 3, stride: stride,
                       padding: 1, workspace: workspace, rng: &rng)
        bn1 = BatchNorm2d(name: name + ".bn1", channels: channels, fusedReLU: true)
        conv2 = Conv2d(name: name + ".conv2", inChannels: channels, outChannels: channels, kernel: 3, padding: 1,
                       workspace: workspace, rng: &rng)
        bn2 = BatchNorm2d(name: name + ".bn2", channels: channels)
        downsample = stride != 1 || inChannels != channels
            ? Downsample(name: name + ".downsample", inChannels: inChannels, outChannels: channels, stride: stride,
                         workspace: workspace, rng: &rng)
            : nil
    }

    var parameters: [Parameter] {
        conv1.parameters + bn1.parameters + conv2.parameters + bn2.parameters + (downsample?.parameters ?? [])
    }
    var buffers: [StateBuffer] { bn1.buffers + bn2.buffers + (downsample?.buffers ?? []) }

    func forward(_ x: Activation, training: Bool) -> Activation {
        input = x
        var main = conv1.forward(x, training: training)
        main = bn1.forward(main, training: training)
        main = conv2.forward(main, training: training)
        main = bn2.forward(main, training: training)
        let shortcut = downsample?.forward(x, training: training) ?? x
        precondition(shortcut.shape == main.shape, "residual shapes differ: \(shortcut.shape) vs \(main.shape)")
        shape = main.shape
        let y = output.reserve(shape.count)
        Residual.addReLU(main.pointer, shortcut.pointer, into: y, count: shape.count)
        return Activation(pointer: y, shape: shape)
    }

    func backward(_ dy: UnsafePointer<Float>) -> UnsafeMutablePointer<Float>? {
        guard let x = input else { preconditionFailure("backward before forward") }
        let g = gradSum.reserve(shape.count)
        Residual.maskGradient(dy, output: output.pointer, into: g, count: shape.count)
        var d = bn2.backward(g)!
        d = conv2.backward(d)!
        d = bn1.backward(d)!
        let dx = conv1.backward(d)!
        let shortcut = downsample?.backward(g) ?? g
        Residual.accumulate(shortcut, into: dx, count: x.shape.count)
        return dx
    }
}
