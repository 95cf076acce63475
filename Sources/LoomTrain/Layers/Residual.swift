import LoomLoader

/// The join of a residual block, `relu(main + shortcut)`, and its gradient.
enum Residual {
    /// `output = max(main + shortcut, 0)`.
    static func addReLU(_ main: UnsafePointer<Float>, _ shortcut: UnsafePointer<Float>,
                        into output: UnsafeMutablePointer<Float>, count: Int) {
        Parallel.forEachRange(count) { range in
            for i in range { output[i] = max(main[i] + shortcut[i], 0) }
        }
    }

    /// d(loss)/d(main + shortcut): the incoming gradient where the output was positive, else 0.
    static func maskGradient(_ gradOutput: UnsafePointer<Float>, output: UnsafePointer<Float>,
                             into gradSum: UnsafeMutablePointer<Float>, count: Int) {
        Parallel.forEachRange(count) { range in
            for i in range { let g = gradOutput[i]; gradSum[i] = output[i] > 0 ? g : 0 }  // unconditional load: vectorises
        }
    }

    /// `target += addend`: the two branches' input gradients meet here.
    static func accumulate(_ addend: UnsafePointer<Float>, into target: UnsafeMutablePointer<Float>, count: Int) {
        Parallel.forEachRange(count) { range in
            for i in range { target[i] += addend[i] }
        }
    }
}

/// A residual shortcut that changes shape: 1x1 conv with stride, then BatchNorm (torchvision's
/// `downsample`, named `<block>.downsample.0` and `<block>.downsample.1`).
final class Downsample {
    let conv: Conv2d
    let norm: BatchNorm2d

    init(name: String, inChannels: Int, outChannels: Int, stride: Int, workspace: Workspace, rng: inout SplitMix64) {
        conv = Conv2d(name: name + ".0", inChannels: inChannels, outChannels: outChannels, kernel: 1, stride: stride,
                      workspace: workspace, rng: &rng)
        norm = BatchNorm2d(name: name + ".1", channels: outChannels)
    }

    var parameters: [Parameter] { conv.parameters + norm.parameters }
    var buffers: [StateBuffer] { norm.buffers }

    func forward(_ x: Activation, training: Bool) -> Activation {
        norm.forward(conv.forward(x, training: training), training: training)
    }

    func backward(_ dy: UnsafePointer<Float>) -> UnsafeMutablePointer<Float> {
        conv.backward(norm.backward(dy)!)!
    }
}
