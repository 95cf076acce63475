import LoomLoader

/// A 2-D convolution without bias (ResNets follow every conv with BatchNorm), by im2col + sgemm.
///
/// Weights are Cout x Cin x k x k, which read row-major as the Cout x (Cin*k*k) matrix that
/// multiplies the im2col columns. The batch is cut into chunks so the shared column buffer stays
/// under the workspace's limit; each chunk is one sgemm writing its slice of the C x (N*Ho*Wo)
/// output. A 1x1 stride-1 convolution needs no columns at all: the input already is that matrix.
final class Conv2d: Layer {
    let inChannels: Int
    let outChannels: Int
    let geometry: ConvGeometry
    let weight: Parameter
    /// False for the first layer of a network: nobody consumes d(loss)/d(image).
    let needsInputGradient: Bool
    private let workspace: Workspace
    private let output = FloatBuffer()
    private let gradInput = FloatBuffer()
    private var input: Activation?
    private var outputShape = ActivationShape(channels: 0, batch: 0, height: 0, width: 0)

    init(name: String, inChannels: Int, outChannels: Int, kernel: Int, stride: Int = 1, padding: Int = 0,
         workspace: Workspace, needsInputGradient: Bool = true, rng: inout SplitMix64) {
        self.inChannels = inChannels
        self.outChannels = outChannels
        geometry = ConvGeometry(kernel: kernel, stride: stride, padding: padding)
        let count = outChannels * inChannels * kernel * kernel
        weight = Parameter(
            name: name + ".weight", shape: [outChannels, inChannels, kernel, kernel],
            value: Initialization.kaimingNormalFanOut(count: count, fanOut: outChannels * kernel * kernel, rng: &rng),
            decays: true)
        self.workspace = workspace
        self.needsInputGradient = needsInputGradient
    }

    var parameters: [Parameter] { [weight] }

    private var isPointwise: Bool { geometry.kernel == 1 && geometry.stride == 1 && geometry.padding == 0 }
    private var rows: Int { inChannels * geometry.kernel * geometry.kernel }

    /// Images per chunk so that rows x (chunk * Ho * Wo) fits the column buffer.
    private func chunkSize(_ shape: ActivationShape) -> Int {
        max(1, min(shape.batch, workspace.columnLimit / max(1, rows * outputShape.plane)))
    }

    func forward(_ x: Activation, training: Bool) -> Activation {
        precondition(x.shape.channels == inChannels, "conv \(weight.name): \(x.shape.channels) channels in, expected \(inChannels)")
        input = x
        outputShape = ActivationShape(channels: outChannels, batch: x.shape.batch,
                                      height: geometry.outputSize(x.shape.height), width: geometry.outputSize(x.shape.width))
        let y = output.reserve(outputShape.count)
        let total = outputShape.channelSize
        weight.value.withUnsafeBufferPointer { w in
            let w = w.baseAddress!
            if isPointwise {
                Gemm.multiply(m: outChannels, n: total, k: inChannels, w, lda: inChannels, x.pointer, ldb: total, into: y, ldc: total)
                return
            }
            let chunk = chunkSize(x.shape)
            let columns = workspace.columns.reserve(rows * chunk * outputShape.plane)
            for start in stride(from: 0, to: x.shape.batch, by: chunk) {
                let images = start..<min(start + chunk, x.shape.batch)
                let cols = images.count * outputShape.plane
                Im2Col.gather(x.pointer, shape: x.shape, geometry: geometry, images: images, into: columns)
                Gemm.multiply(m: outChannels, n: cols, k: rows, w, lda: rows, columns, ldb: cols,
                              into: y + start * outputShape.plane, ldc: total)
            }
        }
        return Activation(pointer: y, shape: outputShape)
    }

    func backward(_ dy: UnsafePointer<Float>) -> UnsafeMutablePointer<Float>? {
        guard let x = input else { preconditionFailure("conv \(weight.name): backward before forward") }
        let total = outputShape.channelSize
        let inTotal = x.shape.channelSize
        let dx: UnsafeMutablePointer<Float>? = needsInputGradient ? gradInput.reserve(x.shape.count) : nil
        weight.value.withUnsafeBufferPointer { w in
            weight.grad.withUnsafeMutableBufferPointer { dw in
                let (w, dw) = (w.baseAddress!, dw.baseAddress!)
                if isPointwise {
                    // dW = dY * X^T;  dX = W^T * dY.
                    Gemm.multiply(m: outChannels, n: inChannels, k: total, dy, lda: total, x.pointer, ldb: inTotal, transB: true,
                                  into: dw, ldc: inChannels)
                    if let dx {
                        Gemm.multiply(m: inChannels, n: total, k: outChannels, w, lda: inChannels, transA: true, dy, ldb: total,
                                      into: dx, ldc: total)
                    }
                    return
                }
                let chunk = chunkSize(x.shape)
                let columns = workspace.columns.reserve(rows * chunk * outputShape.plane)
                let columnGrads = dx == nil ? nil : workspace.columnGradients.reserve(rows * chunk * outputShape.plane)
                for start in stride(from: 0, to: x.shape.batch, by: chunk) {
                    let images = start..<min(start + chunk, x.shape.batch)
                    let cols = images.count * outputShape.plane
                    let dySlice = dy + start * outputShape.plane
                    Im2Col.gather(x.pointer, shape: x.shape, geometry: geometry, images: images, into: columns)
                    // dW (+)= dY_chunk * columns^T; the first chunk overwrites the previous step's gradient.
                    Gemm.multiply(m: outChannels, n: rows, k: cols, dySlice, lda: total, columns, ldb: cols, transB: true,
                                  into: dw, ldc: rows, beta: start == 0 ? 0 : 1)
                    if let dx, let columnGrads {
                        Gemm.multiply(m: rows, n: cols, k: outChannels, w, lda: rows, transA: true, dySlice, ldb: total,
                                      into: columnGrads, ldc: cols)
                        Im2Col.scatter(columnGrads, shape: x.shape, geometry: geometry, images: images, into: dx)
                    }
                }
            }
        }
        return dx
    }
}
