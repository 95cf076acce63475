import ArgumentParser
import Foundation
import LoomStore
import LoomTrain

struct TrainCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "train",
        abstract: "Train a classifier on a selection, evaluating every epoch on another (the real val split).",
        discussion: """
            Selections: DATASET:SPLIT for real images, DATASET:synthetic:STRATEGY for the images generated
            from that strategy's prompts; join several with + and weight them with *W, e.g.
            --train fmnist:synthetic:class-caption*3+fmnist:train. Batches stream from the loader
            (RandomResizedCrop + flip for training; resize + centre crop for evaluation) while the CPU
            trains (OpenBLAS). After each epoch a checkpoint (model, optimizer, loader cursor) is stored as a
            blob; --resume continues the newest unfinished run with the same config and images from it.
            With --json: one line per epoch ("type":"epoch", epoch, loss, train_top1, eval_top1, eval_top5,
            images_per_s) and a summary line ("type":"summary").
            --trainer torch trains with PyTorch instead (tools/workers/torch_trainer.py; any torchvision model,
            --device cpu|cuda|cuda:N, --gpus N ranks with torch.distributed), fed by the same loader through
            shared memory, with the same records; the summary adds device and torch_version.
            Training pixels are torchvision's RandomResizedCrop(size, scale=(--crop-scale, 1), ratio 3/4-4/3) + \
            RandomHorizontalFlip, resized with PIL's BILINEAR filter (within a grey level of torchvision's on the \
            same boxes; loom stream --json --explain prints the boxes). Evaluation: resize the short side to \
            size/0.875, centre-crop size. When `loom cache build --size S` has built the pixel cache for this \
            --size, both read it: evaluation pixels are identical, but training crops are cut from the cached \
            evaluation resize instead of the original, so small crops are upsampled from fewer pixels than \
            torchvision would use (FFCV's max_resolution makes the same trade; build no cache to train on \
            the originals).
            """)

    @OptionGroup var options: StoreOptions
    @OptionGroup var hyper: TrainingOptions

    @Option(help: "Training selection, e.g. fmnist:synthetic:class-caption or fmnist:train.")
    var train: String

    @Option(help: "Evaluation selection, normally the real validation split (e.g. fmnist:val).")
    var eval: String?

    @Flag(help: "Continue the newest unfinished run with this config and these images from its last checkpoint.")
    var resume = false

    @Option(name: .customLong("keep-checkpoints"), help: "Checkpoints kept per run (older ones are dropped; loom gc frees them).")
    var keepCheckpoints = 2

    @Option(name: .customLong("stop-after-epochs"), help: "Stop after this many epochs of this call, leaving the run resumable (--resume).")
    var stopAfterEpochs: Int?

    func validate() throws {
        if let stopAfterEpochs, stopAfterEpochs < 1 { throw ValidationError("--stop-after-epochs must be at least 1") }
    }

    func run() throws {
        let kernel = BLAS.selectKernel()
        let config = hyper.config(train: train, eval: eval)
        let writer = try options.openReadWrite().makeWriter()
        let line = ProgressLine("train")
        let encoder = Output.lineEncoder()
        let summary = try TrainRun.run(
            writer: writer, config: config,
            options: .init(workers: hyper.workers, threads: hyper.threads, resume: resume, keepCheckpoints: keepCheckpoints,
                           stopAfterEpochs: stopAfterEpochs, blasKernel: kernel.description, torch: hyper.torch),
            onEpoch: { metrics in
                line.finish()
                if options.json {
                    try? Output.jsonLine(Typed("epoch", metrics), encoder: encoder)
                } else {
                    Output.stderr(TrainReport.epochLine(metrics, of: config.epochs))
                }
            },
            onStep: { epoch, done, total in line.update(done: done, total: total, unit: "batch") })
        line.finish()
        if options.json { return try Output.jsonLine(Typed("summary", summary), encoder: encoder) }
        Output.stderr(TrainReport.summaryText(summary))
    }
}

/// The hyper-parameters `loom train` and `loom experiment` share.
struct TrainingOptions: ParsableArguments {
    @Option(help: "Model: \(ModelSpec.names.joined(separator: ", ")); with --trainer torch also any torchvision classification model (resnet50, ...).")
    var model = "resnet-small"

    @Option(help: "Epochs.")
    var epochs = 10

    @Option(help: "Input side in pixels.")
    var size = 32

    @Option(help: "Batch size.")
    var batch = 128

    @Option(help: "Seed of the weights, the sample order and the augmentation.")
    var seed: Int64 = 0

    @Option(name: .customLong("lr"), help: "Peak learning rate (SGD).")
    var learningRate = 0.1

    @Option(help: "SGD momentum.")
    var momentum = 0.9

    @Option(name: .customLong("weight-decay"), help: "Weight decay (not on batch norm and biases).")
    var weightDecay = 5e-4

    @Flag(help: "Nesterov momentum.")
    var nesterov = false

    @Option(name: .customLong("warmup-epochs"), help: "Linear learning-rate warm-up before the cosine decay, in epochs.")
    var warmupEpochs = 1.0

    @Option(name: .customLong("label-smoothing"), help: "Label smoothing (0 = off).")
    var labelSmoothing = 0.0

    @Option(name: .customLong("crop-scale"),
            help: ArgumentHelp(
                "Smallest RandomResizedCrop area fraction: crops cover --crop-scale...1 of the image (torchvision: 0.08; small images: ~0.35).",
                discussion: "Measured (docs/augmentation.md): on 28 px Fashion-MNIST at 4 epochs, 0.35 scores 4.2 points above 0.08."))
    var cropScale = 0.08

    @Option(help: "Loader decode threads (they overlap training).")
    var workers = 1

    @Option(help: "OpenBLAS threads (default: all cores); with --trainer torch, torch threads split across the ranks.")
    var threads = ProcessInfo.processInfo.activeProcessorCount

    @Option(help: "Who trains: swift (Loom's CPU trainer) or torch (PyTorch in a worker, tools/workers/torch_trainer.py).")
    var trainer = "swift"

    @Option(help: "--trainer torch: auto, cpu, cuda or cuda:N (auto: CUDA when torch sees a GPU).")
    var device = "auto"

    @Option(help: "--trainer torch: ranks on this machine (torch.distributed: NCCL on CUDA, gloo on the CPU); --batch is split across them.")
    var gpus = 1

    @Option(help: "--trainer torch: the Python interpreter (default: $LOOM_PYTHON, else <repo>/.venv/bin/python, else python3).")
    var python: String?

    var torch: TorchOptions { TorchOptions(device: device, gpus: gpus, python: python) }

    func config(train: String, eval: String?) -> TrainConfig {
        TrainConfig(train: train, eval: eval, model: model, epochs: epochs, size: size, batch: batch, seed: seed,
                    learningRate: learningRate, momentum: momentum, weightDecay: weightDecay, nesterov: nesterov,
                    warmupEpochs: warmupEpochs, labelSmoothing: labelSmoothing, cropScale: cropScale,
                    trainer: Trainer(rawValue: trainer))
    }

    func validate() throws {
        guard workers >= 1 else { throw ValidationError("--workers must be at least 1") }
        guard threads >= 1 else { throw ValidationError("--threads must be at least 1") }
        guard let chosen = Trainer(rawValue: trainer) else {
            throw ValidationError("--trainer must be \(Trainer.allCases.map(\.rawValue).joined(separator: " or ")) (got \"\(trainer)\")")
        }
        if chosen == .swift, device != "auto" || gpus != 1 || python != nil {
            throw ValidationError("--device, --gpus and --python are for --trainer torch")
        }
    }
}

/// A JSON line with a "type" key beside the value's own keys.
struct Typed<Value: Encodable>: Encodable {
    var type: String
    var value: Value

    init(_ type: String, _ value: Value) {
        self.type = type
        self.value = value
    }

    private enum Key: String, CodingKey { case type }

    func encode(to encoder: any Encoder) throws {
        try value.encode(to: encoder)
        var container = encoder.container(keyedBy: Key.self)
        try container.encode(type, forKey: .type)
    }
}

/// Human-readable lines for training results.
enum TrainReport {
    static func percent(_ value: Double?) -> String { value.map { String(format: "%5.1f%%", $0 * 100) } ?? "    -" }

    static func epochLine(_ m: EpochMetrics, of epochs: Int) -> String {
        "epoch \(m.epoch)/\(epochs)  loss \(String(format: "%.4f", m.loss))  train \(percent(m.trainTop1))  "
            + "eval top-1 \(percent(m.evalTop1))  top-5 \(percent(m.evalTop5))  "
            + "\(String(format: "%.0f", m.imagesPerSecond)) img/s  \(String(format: "%.1f", m.seconds)) s"
    }

    static func summaryText(_ s: TrainSummary) -> String {
        var text = "run \(s.runID)"
        if s.reused { text += " (reused, nothing trained)" } else if s.resumedFromEpoch > 0 { text += " (resumed after epoch \(s.resumedFromEpoch))" }
        text += ": \(s.model), \(s.parameters) parameters, \(s.trainImages) training images, \(s.epochs) epochs; "
        text += "eval top-1 \(percent(s.evalTop1)), top-5 \(percent(s.evalTop5)); "
        text += "\(String(format: "%.0f", s.imagesPerSecond)) img/s, \(String(format: "%.1f", s.seconds)) s; BLAS \(s.blasKernel)"
        return text
    }
}
