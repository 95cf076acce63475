import ArgumentParser
import Foundation
import LoomLoader
import LoomTrain

struct BenchTrainCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "train",
        abstract: "Time full training steps (forward, loss, backward, SGD) on random data; print img/s and ms per step.",
        discussion: """
            The rate is the median of the per-step rates after the warm-up steps. Compare with PyTorch on the same \
            settings with tools/bench/train (which runs tools/bench/torch_train.py). Build with -c release.
            """)

    @Option(help: "Architecture: \(ModelSpec.names.joined(separator: ", ")).")
    var model = ModelSpec.defaultName

    @Option(help: "Images per step.")
    var batch = 128

    @Option(help: "Input side in pixels.")
    var size = 32

    @Option(help: "Classes (width of the last layer).")
    var classes = 10

    @Option(help: "Timed steps.")
    var steps = 30

    @Option(help: "Untimed steps first (buffers are allocated and caches warmed there).")
    var warmup = 5

    @Option(help: "OpenBLAS threads.")
    var threads = 2

    @Option(help: "Weight seed.")
    var seed: UInt64 = 0

    @Flag(help: "Also print the forward and backward time of each layer (mean over the timed steps).")
    var layers = false

    @Flag(name: .long, help: "Print JSON to stdout instead of text.")
    var json = false

    struct Report: Codable {
        var model: String
        var batch: Int
        var size: Int
        var classes: Int
        var threads: Int
        var blas_kernel: String
        var steps: Int
        var images_per_s: Double
        var ms_per_step: Double
        var ms_per_step_min: Double
        var parameters: Int
    }

    func validate() throws {
        for (name, value) in [("batch", batch), ("size", size), ("classes", classes), ("steps", steps), ("threads", threads)]
        where value < 1 {
            throw ValidationError("--\(name) must be at least 1")
        }
        guard warmup >= 0 else { throw ValidationError("--warmup must not be negative") }
    }

    func run() throws {
        let kernel = BLAS.selectKernel()
        BLAS.setThreads(threads)
        let spec = ModelSpec(name: model, classes: classes, inputSize: size)
        let network = try Network(spec, seed: seed)
        let optimizer = SGD(parameters: network.parameters, momentum: 0.9, weightDecay: 5e-4)
        var rng = SplitMix64(seed: seed &+ 1)
        let images = (0..<(batch * spec.inputElements)).map { _ in Float(rng.unit() * 2 - 1) }
        let labels = (0..<batch).map { _ in Int32(rng.int(in: 0...(classes - 1))) }
        if layers { network.profile = LayerProfile() }

        var seconds: [Double] = []
        for step in 0..<(warmup + steps) {
            if step == warmup { network.profile?.reset() }
            let start = ContinuousClock.now
            let logits = images.withUnsafeBufferPointer { network.forward($0, batch: batch, training: true) }
            let loss = Loss.softmaxCrossEntropy(logits: logits, labels: labels, classes: classes)
            network.backward(loss.grad)
            optimizer.step(learningRate: 0.01)
            if step >= warmup { seconds.append((ContinuousClock.now - start) / .seconds(1)) }
        }
        let median = seconds.sorted()[seconds.count / 2]
        let report = Report(
            model: model, batch: batch, size: size, classes: classes, threads: threads, blas_kernel: kernel.description,
            steps: steps, images_per_s: Double(batch) / median, ms_per_step: median * 1000,
            ms_per_step_min: (seconds.min() ?? 0) * 1000, parameters: network.parameterCount)
        if json { return try Output.json(report) }
        Output.stdout("\(model) (\(report.parameters) parameters), batch \(batch), \(size)px, \(classes) classes, \(threads) threads")
        Output.stdout("  BLAS kernel: \(kernel)")
        Output.stdout(String(format: "  %.1f img/s   %.1f ms/step (median of %d; fastest %.1f ms)",
                             report.images_per_s, report.ms_per_step, steps, report.ms_per_step_min))
        if let profile = network.profile {
            Output.stdout(profile.table(steps: steps))
        }
    }
}
