/// im2col and col2im for channel-major (C x N x H x W) activations.
///
/// For a chunk of images `n0..<n1`, the column matrix has one row per (input channel, ky, kx)
/// and one column per (image, output y, output x): rows x (count * Ho * Wo), row-major. Then a
/// convolution of the chunk is one sgemm, weight (Cout x rows) times columns, whose result is the
/// chunk's slice of the output C x (N*Ho*Wo).
enum Im2Col {
    /// Fills `columns` (rows x (images.count * Ho * Wo)) from `input`; padding becomes zeros.
    /// Parallel over rows: each row is written by one iteration.
    static func gather(_ input: UnsafePointer<Float>, shape: ActivationShape, geometry g: ConvGeometry,
                       images: Range<Int>, into columns: UnsafeMutablePointer<Float>) {
        let (k, s, p) = (g.kernel, g.stride, g.padding)
        let (height, width) = (shape.height, shape.width)
        let (outH, outW) = (g.outputSize(height), g.outputSize(width))
        let rows = shape.channels * k * k
        let outPlane = outH * outW
        let cols = images.count * outPlane
        Parallel.forEach(rows, work: rows * cols) { r in
            let (ci, ky, kx) = (r / (k * k), (r / k) % k, r % k)
            let ys = g.validOutputs(offset: ky, inputSize: height, outputSize: outH)
            let xs = g.validOutputs(offset: kx, inputSize: width, outputSize: outW)
            for (j, n) in images.enumerated() {
                let source = input + (ci * shape.batch + n) * height * width
                let target = columns + r * cols + j * outPlane
                for oy in 0..<outH {
                    let out = target + oy * outW
                    guard ys.contains(oy) else {
                        out.update(repeating: 0, count: outW)
                        continue
                    }
                    let row = source + (oy * s - p + ky) * width
                    if xs.lowerBound > 0 { out.update(repeating: 0, count: xs.lowerBound) }
                    if xs.upperBound < outW { (out + xs.upperBound).update(repeating: 0, count: outW - xs.upperBound) }
                    if s == 1 {
                        (out + xs.lowerBound).update(from: row + (xs.lowerBound - p + kx), count: xs.count)
                    } else {
                        for ox in xs { out[ox] = row[ox * s - p + kx] }
                    }
                }
            }
        }
    }

    /// Sums `columns` gradients back onto the input positions they were gathered from, overwriting
    /// the chunk's images in `gradInput`. Parallel over input channels: every (ky, kx) row of a
    /// channel lands in that channel's planes only, and adds in a fixed (ky, kx) order.
    static func scatter(_ columns: UnsafePointer<Float>, shape: ActivationShape, geometry g: ConvGeometry,
                        images: Range<Int>, into gradInput: UnsafeMutablePointer<Float>) {
        let (k, s, p) = (g.kernel, g.stride, g.padding)
        let (height, width) = (shape.height, shape.width)
        let (outH, outW) = (g.outputSize(height), g.outputSize(width))
        let outPlane = outH * outW
        let cols = images.count * outPlane
        Parallel.forEach(shape.channels, work: shape.channels * k * k * cols) { ci in
            for (j, n) in images.enumerated() {
                // One image plane at a time: it stays in cache across the k*k passes.
                let target = gradInput + (ci * shape.batch + n) * height * width
                target.update(repeating: 0, count: height * width)
                for ky in 0..<k {
                    let ys = g.validOutputs(offset: ky, inputSize: height, outputSize: outH)
                    for kx in 0..<k {
                        let xs = g.validOutputs(offset: kx, inputSize: width, outputSize: outW)
                        let source = columns + ((ci * k + ky) * k + kx) * cols + j * outPlane
                        for oy in ys {
                            let row = target + (oy * s - p + ky) * width
                            let grad = source + oy * outW
                            if s == 1 {
                                let shifted = row + (kx - p)
                                for ox in xs { shifted[ox] += grad[ox] }
                            } else {
                                for ox in xs { row[ox * s - p + kx] += grad[ox] }
                            }
                        }
                    }
                }
            }
        }
    }
}
