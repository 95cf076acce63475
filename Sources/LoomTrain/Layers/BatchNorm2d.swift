/// Batch normalisation over (N, H, W) per channel, torch's `BatchNorm2d` (eps 1e-5, momentum 0.1),
/// optionally followed by a ReLU fused into the same pass.
///
/// Training normalises with the batch's mean and biased variance and updates the running
/// statistics with the unbiased variance, as torch does; evaluation normalises with the running
/// statistics. In the channel-major layout each channel is one contiguous run of N*H*W floats, so
/// every channel is one task with its own fixed-order reductions.
///
/// Fusing the ReLU saves a full read and write of the activation in each direction: the backward
/// pass masks the incoming gradient with `output > 0` on the fly.
final class BatchNorm2d: Layer {
    static let epsilon: Float = 1e-5
    static let momentum: Float = 0.1

    let channels: Int
    let fusedReLU: Bool
    let weight: Parameter
    let bias: Parameter
    let runningMean: StateBuffer
    let runningVar: StateBuffer
    let batchesTracked: StateBuffer
    private let output = FloatBuffer()
    private let gradInput = FloatBuffer()
    private var input: Activation?
    private var batchMean: [Float]
    private var batchInvStd: [Float]

    init(name: String, channels: Int, fusedReLU: Bool = false) {
        self.channels = channels
        self.fusedReLU = fusedReLU
        weight = Parameter(name: name + ".weight", shape: [channels], value: .init(repeating: 1, count: channels), decays: false)
        bias = Parameter(name: name + ".bias", shape: [channels], value: .init(repeating: 0, count: channels), decays: false)
        runningMean = StateBuffer(name: name + ".running_mean", shape: [channels], value: .init(repeating: 0, count: channels))
        runningVar = StateBuffer(name: name + ".running_var", shape: [channels], value: .init(repeating: 1, count: channels))
        batchesTracked = StateBuffer(name: name + ".num_batches_tracked", shape: [], value: [0])
        batchMean = .init(repeating: 0, count: channels)
        batchInvStd = .init(repeating: 1, count: channels)
    }

    var parameters: [Parameter] { [weight, bias] }
    var buffers: [StateBuffer] { [runningMean, runningVar, batchesTracked] }

    func forward(_ x: Activation, training: Bool) -> Activation {
        precondition(x.shape.channels == channels, "\(weight.name): \(x.shape.channels) channels in, expected \(channels)")
        input = x
        let m = x.shape.channelSize
        let y = output.reserve(x.shape.count)
        let relu = fusedReLU
        weight.value.withUnsafeBufferPointer { gamma in
        bias.value.withUnsafeBufferPointer { beta in
        batchMean.withUnsafeMutableBufferPointer { means in
        batchInvStd.withUnsafeMutableBufferPointer { invStds in
        runningMean.value.withUnsafeMutableBufferPointer { runMean in
        runningVar.value.withUnsafeMutableBufferPointer { runVar in
            Parallel.forEach(channels, work: x.shape.count) { c in
                let source = UnsafePointer(x.pointer + c * m)
                let mean: Float, invStd: Float
                if training {
                    let mean64 = Reductions.sum(source, count: m) / Double(m)
                    let variance = Reductions.sumOfSquares(source, count: m, around: Float(mean64)) / Double(m)
                    mean = Float(mean64)
                    invStd = Float(1 / (variance + Double(Self.epsilon)).squareRoot())
                    let unbiased = variance * Double(m) / Double(max(m - 1, 1))
                    runMean[c] = (1 - Self.momentum) * runMean[c] + Self.momentum * mean
                    runVar[c] = (1 - Self.momentum) * runVar[c] + Self.momentum * Float(unbiased)
                } else {
                    mean = runMean[c]
                    invStd = 1 / (runVar[c] + Self.epsilon).squareRoot()
                }
                means[c] = mean
                invStds[c] = invStd
                let scale = gamma[c] * invStd
                let shift = beta[c] - mean * scale
                let target = y + c * m
                if relu {
                    for i in 0..<m { target[i] = max(source[i] * scale + shift, 0) }
                } else {
                    for i in 0..<m { target[i] = source[i] * scale + shift }
                }
            }
        }}}}}}
        if training { batchesTracked.value[0] += 1 }
        return Activation(pointer: y, shape: x.shape)
    }

    func backward(_ dy: UnsafePointer<Float>) -> UnsafeMutablePointer<Float>? {
        guard let x = input else { preconditionFailure("\(weight.name): backward before forward") }
        let m = x.shape.channelSize
        let dx = gradInput.reserve(x.shape.count)
        let mask: UnsafePointer<Float>? = fusedReLU ? UnsafePointer(output.pointer) : nil
        weight.value.withUnsafeBufferPointer { gamma in
        weight.grad.withUnsafeMutableBufferPointer { dGamma in
        bias.grad.withUnsafeMutableBufferPointer { dBeta in
        batchMean.withUnsafeBufferPointer { means in
        batchInvStd.withUnsafeBufferPointer { invStds in
            Parallel.forEach(channels, work: 3 * x.shape.count) { c in
                let offset = c * m
                let (source, target) = (UnsafePointer(x.pointer + offset), dx + offset)
                // g = dy through the fused ReLU, staged in dx (overwritten below, element by element):
                // a plain select loop vectorises, a select inside the reduction does not.
                let grad: UnsafePointer<Float>
                if let mask {
                    let (incoming, y) = (dy + offset, mask + offset)
                    // Load unconditionally: a conditional load compiles to a branch per element, not a vector select.
                    for i in 0..<m { let g = incoming[i]; target[i] = y[i] > 0 ? g : 0 }
                    grad = UnsafePointer(target)
                } else {
                    grad = dy + offset
                }
                let (mean, invStd) = (means[c], invStds[c])
                let (sumDy, sumDyCentered) = Reductions.gradientSums(grad, source, count: m, mean: mean)
                dGamma[c] = Float(sumDyCentered) * invStd
                dBeta[c] = Float(sumDy)
                // dx = a*g - b*x + (b*mean - a*Σg/M) with a = γ/σ, b = a * (Σ g*x̂)/(σ*M).
                let a = gamma[c] * invStd
                let b = a * invStd * invStd * Float(sumDyCentered / Double(m))
                let shift = b * mean - a * Float(sumDy / Double(m))
                for i in 0..<m { target[i] = a * grad[i] - b * source[i] + shift }
            }
        }}}}}
        return dx
    }
}
