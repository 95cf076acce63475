import LoomLoader
@testable import LoomTrain
import Testing

/// Finite-difference checks of every layer's backward pass, on small shapes.
@Suite struct LayerGradientTests {
    static func expectClean(_ report: GradientCheck.Report, allowedMisses: Int = 0, _ what: String) {
        #expect(report.checked > 0)
        #expect(report.kinks * 10 <= report.checked, "\(what): \(report.kinks) coordinates at ReLU kinks, too many to trust the check")
        #expect(report.mismatches.count <= allowedMisses,
                "\(what): \(report.mismatches.count) of \(report.checked) coordinates off, e.g. \(report.mismatches.prefix(4))")
    }

    struct ConvCase: Sendable, CustomTestStringConvertible {
        var kernel: Int, stride: Int, padding: Int, inChannels: Int, outChannels: Int, side: Int
        var testDescription: String { "k\(kernel) s\(stride) p\(padding) \(inChannels)->\(outChannels) @\(side)" }
    }

    @Test(arguments: [
        ConvCase(kernel: 3, stride: 1, padding: 1, inChannels: 3, outChannels: 4, side: 6),
        ConvCase(kernel: 3, stride: 2, padding: 1, inChannels: 2, outChannels: 3, side: 7),
        ConvCase(kernel: 1, stride: 1, padding: 0, inChannels: 5, outChannels: 3, side: 4),
        ConvCase(kernel: 1, stride: 2, padding: 0, inChannels: 3, outChannels: 4, side: 5),
        ConvCase(kernel: 7, stride: 2, padding: 3, inChannels: 2, outChannels: 2, side: 9),
        ConvCase(kernel: 3, stride: 1, padding: 0, inChannels: 2, outChannels: 2, side: 5),
    ])
    func conv(_ c: ConvCase) {
        var rng = SplitMix64(seed: 7)
        let conv = Conv2d(name: "conv", inChannels: c.inChannels, outChannels: c.outChannels, kernel: c.kernel,
                          stride: c.stride, padding: c.padding, workspace: Workspace(), rng: &rng)
        let shape = ActivationShape(channels: c.inChannels, batch: 2, height: c.side, width: c.side)
        Self.expectClean(GradientCheck().run(conv, input: shape), c.testDescription)
    }

    /// A column limit of one image's columns forces a chunk per image; results match the one-chunk run.
    @Test func convChunksMatchOneChunk() {
        var rng = SplitMix64(seed: 3)
        let whole = Conv2d(name: "a", inChannels: 3, outChannels: 4, kernel: 3, stride: 1, padding: 1, workspace: Workspace(), rng: &rng)
        rng = SplitMix64(seed: 3)
        let chunked = Conv2d(name: "a", inChannels: 3, outChannels: 4, kernel: 3, stride: 1, padding: 1,
                             workspace: Workspace(columnLimit: 27 * 25), rng: &rng)
        let shape = ActivationShape(channels: 3, batch: 3, height: 5, width: 5)
        var x = Random.floats(shape.count, seed: 9)
        let dy = Random.floats(4 * 3 * 25, seed: 10)
        x.withUnsafeMutableBufferPointer { x in
            let input = Activation(pointer: x.baseAddress!, shape: shape)
            let a = whole.forward(input, training: true), b = chunked.forward(input, training: true)
            // sgemm blocks differently for other widths: equal up to rounding, not bitwise.
            func close(_ p: UnsafePointer<Float>, _ q: UnsafePointer<Float>, _ count: Int) -> Bool {
                (0..<count).allSatisfy { abs(p[$0] - q[$0]) <= 1e-5 * max(1, abs(p[$0])) }
            }
            #expect(a.shape == b.shape && close(a.pointer, b.pointer, a.shape.count))
            let da = dy.withUnsafeBufferPointer { whole.backward($0.baseAddress!)! }
            let db = dy.withUnsafeBufferPointer { chunked.backward($0.baseAddress!)! }
            #expect(close(da, db, shape.count))
            #expect(close(whole.weight.grad, chunked.weight.grad, whole.weight.count))
        }
    }

    @Test(arguments: [false, true])
    func batchNormTraining(fusedReLU: Bool) {
        let bn = BatchNorm2d(name: "bn", channels: 3, fusedReLU: fusedReLU)
        // Non-trivial affine parameters, so their gradients are exercised away from 1 and 0.
        bn.weight.value = [1.5, -0.7, 0.9]
        bn.bias.value = [0.2, -0.1, 0.4]
        let shape = ActivationShape(channels: 3, batch: 3, height: 3, width: 4)
        let check = GradientCheck(epsilon: fusedReLU ? 2e-3 : 1e-2, kinkAware: fusedReLU)
        Self.expectClean(check.run(bn, input: shape), "batch norm")
    }

    @Test func batchNormRunningStatisticsFollowTorch() {
        let bn = BatchNorm2d(name: "bn", channels: 1)
        var x: [Float] = [1, 2, 3, 4, 6, 8]  // mean 4, biased var 16/3*... computed below
        let mean = x.reduce(0, +) / 6
        let unbiased = x.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / 5
        x.withUnsafeMutableBufferPointer { x in
            let y = bn.forward(Activation(pointer: x.baseAddress!, shape: .init(channels: 1, batch: 2, height: 1, width: 3)), training: true)
            let out = Array(UnsafeBufferPointer(start: y.pointer, count: 6))
            #expect(abs(out.reduce(0, +)) < 1e-5, "normalised output has mean 0")
            // eval mode then uses the running statistics: 0.9 * (0, 1) + 0.1 * (mean, unbiased var).
            #expect(abs(bn.runningMean.value[0] - 0.1 * mean) < 1e-6)
            #expect(abs(bn.runningVar.value[0] - (0.9 + 0.1 * unbiased)) < 1e-5)
            #expect(bn.batchesTracked.value == [1])
            let e = bn.forward(Activation(pointer: x.baseAddress!, shape: .init(channels: 1, batch: 2, height: 1, width: 3)), training: false)
            let expected = (x[0] - bn.runningMean.value[0]) / (bn.runningVar.value[0] + 1e-5).squareRoot()
            #expect(abs(e.pointer[0] - expected) < 1e-5)
        }
    }

    @Test func relu() {
        // Inputs kept away from the kink: |x| >= 0.1.
        let report = GradientCheck().run(ReLU(), input: .init(channels: 2, batch: 2, height: 3, width: 3)) { rng in
            let v = Float(Random.normal(&rng))
            return v >= 0 ? v + 0.1 : v - 0.1
        }
        Self.expectClean(report, "relu")
    }

    @Test func linear() {
        var rng = SplitMix64(seed: 5)
        let fc = Linear(name: "fc", inFeatures: 6, outFeatures: 4, rng: &rng)
        Self.expectClean(GradientCheck().run(fc, input: .init(channels: 6, batch: 3, height: 1, width: 1)), "linear")
    }

    @Test(arguments: [(3, 2, 1), (2, 2, 0), (3, 1, 1)])
    func maxPool(kernel: Int, stride: Int, padding: Int) {
        // Distinct values 0.05 apart: a nudge of eps never changes which input is the maximum.
        let shape = ActivationShape(channels: 2, batch: 2, height: 5, width: 5)
        var order = Array(0..<shape.count)
        var rng = SplitMix64(seed: 11)
        order.shuffle(using: &rng)
        var next = 0
        let report = GradientCheck(epsilon: 1e-2).run(MaxPool2d(kernel: kernel, stride: stride, padding: padding), input: shape) { _ in
            defer { next += 1 }
            return Float(order[next]) * 0.05 - 2
        }
        Self.expectClean(report, "max pool \(kernel)/\(stride)/\(padding)")
    }

    @Test func globalAveragePool() {
        Self.expectClean(GradientCheck().run(GlobalAveragePool(), input: .init(channels: 3, batch: 2, height: 4, width: 3)), "avg pool")
    }

    @Test(arguments: [(4, 4, 1), (3, 5, 2)])
    func basicBlock(inChannels: Int, channels: Int, stride: Int) {
        var rng = SplitMix64(seed: 21)
        let block = BasicBlock(name: "b", inChannels: inChannels, channels: channels, stride: stride, workspace: Workspace(), rng: &rng)
        let check = GradientCheck(epsilon: 2e-3, relativeTolerance: 2e-2, absoluteTolerance: 5e-3, samples: 30, kinkAware: true)
        Self.expectClean(check.run(block, input: .init(channels: inChannels, batch: 2, height: 5, width: 5)),
                         "basic block \(inChannels)->\(channels)/\(stride)")
    }

    @Test(arguments: [(4, 2, 2), (8, 2, 1)])
    func bottleneck(inChannels: Int, channels: Int, stride: Int) {
        var rng = SplitMix64(seed: 22)
        let block = Bottleneck(name: "b", inChannels: inChannels, channels: channels, stride: stride, workspace: Workspace(), rng: &rng)
        let check = GradientCheck(epsilon: 2e-3, relativeTolerance: 2e-2, absoluteTolerance: 5e-3, samples: 20, kinkAware: true)
        Self.expectClean(check.run(block, input: .init(channels: inChannels, batch: 2, height: 4, width: 4)),
                         "bottleneck \(inChannels)->\(channels * 4)/\(stride)")
    }
}
