import ArgumentParser
import Foundation
import LoomPipeline
import LoomStore

struct GenerateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "generate",
        abstract: "Make K synthetic images per prompt of one strategy, with full provenance.",
        discussion: """
            Backends: builtin:procedural (loom-builtin-procedural, an offline stand-in that renders colour
            fields and shapes from the prompt's words and the seed; it is not a diffusion model);
            process:CMD (e.g. 'process:python3 tools/workers/sd_generator.py --model stable-diffusion-v1-5/stable-diffusion-v1-5'
            on a GPU, see tools/workers/README.md); http:URL (an AUTOMATIC1111-style /sdapi/v1/txt2img server).
            Each image's seed is derived from --seed, the prompt id and the image's index and recorded with
            it. The plan of jobs is written first: a killed run resumes with the missing jobs only, and a
            failing job is tried 3 times, then recorded as failed while the others go on; when every job
            fails, loom exits 1. A --size the generator cannot make (its handshake's constraints, e.g.
            multiples of 8 for Stable Diffusion) is refused before any job. A re-run with every image
            there under the identity this --backend had last time (and no file named in its command
            changed since) answers from the catalog without starting the worker.
            python3 in a process: command runs under --python, else $LOOM_PYTHON, else the project
            venv (.venv, made by tools/setup), else python3 from PATH.
            --workers N runs N process: workers (or N http: clients) at once, --devices cuda:0,cuda:1 one
            process: worker per device ({device} in the command, CUDA_VISIBLE_DEVICES set); every worker must
            report the same identity, and the result equals a one-worker run's. builtin: backends refuse both.
            On a fleet store (--catalog/--blobs) any number of `loom generate` processes, on any machines, share
            one run: each claims jobs a round at a time under a --lease it renews while alive; a killed one's
            jobs go back to the queue when its lease runs out, and every (prompt, index) ends with one image.
            """)

    @OptionGroup var options: StoreOptions

    @Option(help: "Dataset name.")
    var dataset: String

    @Option(help: "Prompt strategy whose prompts to use (see `loom prompts`).")
    var prompts: String

    @Option(help: "Generator backend, e.g. builtin:procedural.")
    var backend: String

    @Option(name: .customLong("per-prompt"), help: "Images per prompt.")
    var perPrompt: Int

    @Option(help: "Base seed; per-image seeds are derived from it.")
    var seed: Int64

    @Option(help: "Sampling steps.")
    var steps = 30

    @Option(help: "Classifier-free guidance scale.")
    var guidance = 7.5

    @Option(help: "Image size, WIDTHxHEIGHT.")
    var size = "512x512"

    @Option(help: "Images per generator call.")
    var batch = 4

    @Option(help: "Python interpreter for a process: command that starts with python3 or python.")
    var python: String?

    @OptionGroup var workers: WorkerOptions

    func run() throws {
        let parts = size.lowercased().split(separator: "x")
        guard parts.count == 2, let width = Int(parts[0]), let height = Int(parts[1]), width > 0, height > 0 else {
            throw ValidationError("--size must be WIDTHxHEIGHT, e.g. 512x512")
        }
        var settings = GenerateRun.Options(strategy: prompts, perPrompt: perPrompt, seed: seed, steps: steps, guidance: guidance,
                                           width: width, height: height, batchSize: batch)
        settings.lease = try workers.leaseDuration()
        let fanout = try workers.fanout()
        try Backends.checkFanout(backend, fanout: fanout)
        let store = try options.openReadWrite()
        let recorded = try CatalogAnswer.generator(store: store, spec: backend, dataset: dataset, options: settings)
        let generators = try recorded.map { WorkerSet($0) } ?? Backends.generators(backend, python: python, fanout: fanout)
        let writer = try store.makeWriter()
        let line = ProgressLine("generate")
        let summary = try GenerateRun.run(writer: writer, dataset: dataset, generators: generators, options: settings,
                                          progress: { done, total in line.update(done: done, total: total) },
                                          workerProgress: { line.note = workerRates($0) })
        line.finish()
        if options.json {
            try Output.json(summary)
        } else {
            let resumed = summary.resumed ? " (resumed)" : ""
            let note = recorded == nil ? "" : " (answered from the catalog: the worker was not started)"
            Output.stderr("run \(summary.runID)\(resumed), \(summary.generator): \(summary.generated) generated, \(summary.skipped) skipped (already existed), \(summary.failed.count) failed in \(String(format: "%.1f", summary.seconds)) s\(note)")
            for failure in summary.failed.prefix(20) {
                Output.stderr("  prompt \(failure.promptID) seed \(failure.seed): \(failure.error)")
            }
        }
        if summary.generated == 0, summary.skipped == 0, let first = summary.failed.first {
            Output.stderr("error: all \(summary.failed.count) jobs failed (\(first.attempts) attempts each); the first: prompt \(first.promptID) seed \(first.seed): \(first.error)")
            throw ExitCode(1)
        }
    }
}
