import LoomLoader

/// ResNet's bottleneck block (torchvision `Bottleneck`, v1.5: the stride sits on the 3x3):
/// 1x1 reduce, 3x3, 1x1 expand to `channels * 4`, each with BatchNorm, ReLUs fused into the first
/// two; a shortcut; ReLU of the sum.
final class Bottleneck: Layer {
    static let expansion = 4

    let conv1: Conv2d
    let bn1: BatchNorm2d
    let conv2: Conv2d
    let bn2: BatchNorm2d
    let conv3: Conv2d
    let bn3: BatchNorm2d
    let downsample: Downsample?
    private let output = FloatBuffer()
    private let gradSum = FloatBuffer()
    private var shape = ActivationShape(channels: 0, batch: 0, height: 0, width: 0)
    private var input: Activation?

    /// - Parameter channels: the inner width; the block outputs `channels * 4`.
    init(name: String, inChannels: Int, channels: Int, stride: Int, workspace: Workspace, rng: inout SplitMix64) {
        let outChannels = channels * Self.expansion
        conv1 = Conv2d(name: name + ".conv1", inChannels: inChannels, outChannels: channels, kernel: 1,
                       workspace: workspace, rng: &rng)
        bn1 = BatchNorm2d(name: name + ".bn1", channels: channels, fusedReLU: true)
        conv2 = Conv2d(name: name + ".conv2", inChannels: channels, outChannels: channels, kernel: 3, stride: stride,
                       padding: 1, workspace: workspace, rng: &rng)
        bn2 = BatchNorm2d(name: name + ".bn2", channels: channels, fusedReLU: true)
        conv3 = Conv2d(name: name + ".conv3", inChannels: channels, outChannels: outChannels, kernel: 1,
                       workspace: workspace, rng: &rng)
        bn3 = BatchNorm2d(name: name + ".bn3", channels: outChannels)
        downsample = stride != 1 || inChannels != outChannels
            ? Downsample(name: name + ".downsample", inChannels: inChannels, outChannels: outChannels, stride: stride,
                         workspace: workspace, rng: &rng)
            : nil
    }

    var parameters: [Parameter] {
        conv1.parameters + bn1.parameters + conv2.parameters + bn2.parameters + conv3.parameters + bn3.parameters
            + (downsample?.parameters ?? [])
    }
    var buffers: [StateBuffer] { bn1.buffers + bn2.buffers + bn3.buffers + (downsample?.buffers ?? []) }

    func forward(_ x: Activation, training: Bool) -> Activation {
        input = x
        var main = bn1.forward(conv1.forward(x, training: training), training: training)
        main = bn2.forward(conv2.forward(main, training: training), training: training)
        main = bn3.forward(conv3.forward(main, training: training), training: training)
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
        var d = conv3.backward(bn3.backward(g)!)!
        d = conv2.backward(bn2.backward(d)!)!
        let dx = conv1.backward(bn1.backward(d)!)!
        let shortcut = downsample?.backward(g) ?? g
        Residual.accumulate(shortcut, into: dx, count: x.shape.count)
        return dx
    }
}
