import ArgumentParser
import Foundation
import LoomExperiment
import LoomPipeline
import LoomStore
import LoomTrain

struct ExperimentCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "experiment",
        abstract: "Train on synthetic images from each prompt strategy, evaluate on the real val split, write a report.",
        discussion: """
            For --dataset D: captions D's training split (--captioner), makes each strategy's prompts from
            them, generates --per-prompt images per caption prompt (class-level prompts get as many images in
            all, so every strategy trains on the same count), trains one model per strategy on synthetic
            images only (--real-baseline adds one on the real training split), evaluates each on D's real
            validation split and writes reports/<name>/ (report.md, report.json, report.svg, per_class.csv).
            Everything stored is reused: run it again and finished trainings are reused, an interrupted one
            resumes from its last checkpoint. builtin:stats and builtin:procedural are offline stand-ins,
            not BLIP-2 and Stable Diffusion; see tools/workers/README.md for the real models on a GPU.
            """)

    @OptionGroup var options: StoreOptions
    @OptionGroup var hyper: TrainingOptions

    @Option(help: "The real dataset.")
    var dataset: String

    @Option(help: "Prompt strategies, comma-separated (see loom prompts).")
    var strategies = "class-name,class-caption"

    @Option(name: .customLong("per-prompt"), help: "Synthetic images per caption prompt.")
    var perPrompt = 1

    @Option(help: "Captioner backend (builtin:stats, process:CMD, http:URL).")
    var captioner = "builtin:stats"

    @Option(help: "Generator backend (builtin:procedural, process:CMD, http:URL).")
    var generator = "builtin:procedural"

    @Option(name: .customLong("image-size"), help: "Side of the generated images in pixels.")
    var imageSize = 64

    @Option(help: "Generator sampling steps.")
    var steps = 30

    @Option(help: "Generator guidance scale.")
    var guidance = 7.5

    @Option(name: .customLong("generation-seed"), help: "Base seed of the generated images.")
    var generationSeed: Int64 = 0

    @Option(name: .customLong("train-split"), help: "Real split to caption (and to train the baseline on).")
    var trainSplit = "train"

    @Option(name: .customLong("eval-split"), help: "Real split every model is evaluated on.")
    var evalSplit = "val"

    @Flag(name: .customLong("real-baseline"), help: "Also train on the real training split.")
    var realBaseline = false

    @Option(name: .customLong("backend-workers"), help: "Captioner/generator workers to run at once (loom generate's --workers).")
    var backendWorkers: Int?

    @Option(name: [.customLong("backend-devices"), .customLong("devices")],
            help: "One captioner/generator worker per device, e.g. cuda:0,cuda:1 (loom generate's --devices; the trainer's ranks take --gpus and --device).")
    var backendDevices: String?

    @Option(help: "Report folder name (default experiment-<run id>).")
    var name: String?

    @Option(help: "Where report folders go.")
    var reports = "reports"

    func run() throws {
        let kernel = BLAS.selectKernel()
        if let name, name.isEmpty || name.contains("/") || name.hasPrefix(".") {
            throw ValidationError("--name must be a plain folder name (got \"\(name)\")")
        }
        let config = ExperimentConfig(
            dataset: dataset, strategies: strategies.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) },
            perPrompt: perPrompt, captioner: captioner, generator: generator, imageSize: imageSize, steps: steps,
            guidance: guidance, generationSeed: generationSeed, trainSplit: trainSplit, evalSplit: evalSplit,
            realBaseline: realBaseline, training: hyper.config(train: "", eval: nil))
        var runOptions = ExperimentRun.Options(workers: hyper.workers, threads: hyper.threads, reportsDirectory: reports, name: name,
                                               blasKernel: kernel.description, torch: hyper.torch)
        do {
            runOptions.backendFanout = try Fanout(workers: backendWorkers, devices: backendDevices,
                                                  flags: ("--backend-workers", "--backend-devices"))
        } catch {
            throw ValidationError("\(error)")
        }
        let writer = try options.openReadWrite().makeWriter()
        let line = ProgressLine("train")
        let summary = try ExperimentRun.run(
            writer: writer, config: config, options: runOptions,
            events: .init(
                stage: { line.finish(); Output.stderr("== \($0)") },
                epoch: { _, metrics in line.finish(); Output.stderr("  " + TrainReport.epochLine(metrics, of: hyper.epochs)) },
                step: { _, done, total in line.update(done: done, total: total, unit: "batch") }))
        line.finish()
        if options.json { return try Output.json(summary) }
        Output.stderr("")
        Output.stdout(ExperimentReport.table(summary))
        Output.stderr("\nreport: \(summary.reportDirectory)/report.md (chart: report.svg); experiment run \(summary.runID); BLAS \(kernel)")
    }
}
