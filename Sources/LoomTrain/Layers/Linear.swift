import LoomLoader

/// A fully connected layer on a features x batch activation (C x N x 1 x 1): Y = W X + b, with W
/// stored out x in like torch's `nn.Linear`. Its output is out x N; the network transposes that to
/// the batch x classes logits callers see.
final class Linear: Layer {
    let inFeatures: Int
    let outFeatures: Int
    let weight: Parameter
    let bias: Parameter
    private let output = FloatBuffer()
    private let gradInput = FloatBuffer()
    private var input: Activation?

    init(name: String, inFeatures: Int, outFeatures: Int, rng: inout SplitMix64) {
        self.inFeatures = inFeatures
        self.outFeatures = outFeatures
        weight = Parameter(name: name + ".weight", shape: [outFeatures, inFeatures],
                           value: Initialization.linearDefault(count: outFeatures * inFeatures, fanIn: inFeatures, rng: &rng),
                           decays: true)
        bias = Parameter(name: name + ".bias", shape: [outFeatures],
                         value: Initialization.linearDefault(count: outFeatures, fanIn: inFeatures, rng: &rng), decays: false)
    }

    var parameters: [Parameter] { [weight, bias] }

    func forward(_ x: Activation, training: Bool) -> Activation {
        precondition(x.shape.plane == 1 && x.shape.channels == inFeatures,
                     "\(weight.name): input \(x.shape), expected \(inFeatures)x(batch)x1x1")
        input = x
        let n = x.shape.batch
        let y = output.reserve(outFeatures * n)
        bias.value.withUnsafeBufferPointer { b in
            for o in 0..<outFeatures { (y + o * n).update(repeating: b[o], count: n) }
        }
        weight.value.withUnsafeBufferPointer { w in
            Gemm.multiply(m: outFeatures, n: n, k: inFeatures, w.baseAddress!, lda: inFeatures, x.pointer, ldb: n,
                          into: y, ldc: n, beta: 1)
        }
        return Activation(pointer: y, shape: ActivationShape(channels: outFeatures, batch: n, height: 1, width: 1))
    }

    func backward(_ dy: UnsafePointer<Float>) -> UnsafeMutablePointer<Float>? {
        guard let x = input else { preconditionFailure("\(weight.name): backward before forward") }
        let n = x.shape.batch
        let dx = gradInput.reserve(inFeatures * n)
        weight.grad.withUnsafeMutableBufferPointer { dw in
            Gemm.multiply(m: outFeatures, n: inFeatures, k: n, dy, lda: n, x.pointer, ldb: n, transB: true,
                          into: dw.baseAddress!, ldc: inFeatures)
        }
        bias.grad.withUnsafeMutableBufferPointer { db in
            for o in 0..<outFeatures { db[o] = Float(Reductions.sum(dy + o * n, count: n)) }
        }
        weight.value.withUnsafeBufferPointer { w in
            Gemm.multiply(m: inFeatures, n: n, k: outFeatures, w.baseAddress!, lda: inFeatures, transA: true, dy, ldb: n,
                          into: dx, ldc: n)
        }
        return dx
    }
}
