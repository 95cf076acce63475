import ArgumentParser
import LoomPipeline
import LoomStore

struct CaptionCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "caption", abstract: "Captions of real images.",
        subcommands: [Run.self, Import.self], defaultSubcommand: Run.self)

    struct Run: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "run",
            abstract: "Caption the real images of a dataset that have no caption from this captioner yet.",
            discussion: """
                Backends: builtin:stats (loom-builtin-stats, an offline stand-in that describes measurable
                statistics: brightness, contrast, dominant colour, orientation, size; it is not a captioning
                model); process:CMD (a worker speaking the loom-worker protocol, e.g.
                'process:python3 tools/workers/blip2_captioner.py --model Salesforce/blip2-opt-2.7b' on a GPU);
                http:URL (an OpenAI-compatible chat/completions server: http:http://host:8000/v1?model=NAME).
                A captioner is its name plus its parameters; re-running sends only uncaptioned images, and
                when none is left under the identity this --backend had last time (and no file named in
                its command changed since), it answers from the catalog without starting the worker.
                python3 in a process: command runs under --python, else $LOOM_PYTHON, else the project
                venv (.venv, made by tools/setup), else python3 from PATH.
                Exits 1 when images were sent and none got a caption.
                --workers N runs N process: workers (or N http: clients) at once, --devices cuda:0,cuda:1 one
                process: worker per device ({device} in the command, CUDA_VISIBLE_DEVICES set); every worker
                must report the same identity. builtin: backends refuse both.
                """)

        @OptionGroup var options: StoreOptions

        @Option(help: "Dataset name.")
        var dataset: String

        @Option(help: "Only this split.")
        var split: String?

        @Option(help: "Captioner backend, e.g. builtin:stats.")
        var backend: String

        @Option(help: "Images per captioner call.")
        var batch = 16

        @Option(help: "Python interpreter for a process: command that starts with python3 or python.")
        var python: String?

        @OptionGroup var workers: WorkerOptions

        func run() throws {
            let fanout = try workers.fanout()
            try Backends.checkFanout(backend, fanout: fanout)
            let store = try options.openReadWrite()
            let recorded = try CatalogAnswer.captioner(store: store, spec: backend, dataset: dataset, split: split)
            let captioners = try recorded.map { WorkerSet($0) } ?? Backends.captioners(backend, python: python, fanout: fanout)
            let writer = try store.makeWriter()
            let line = ProgressLine("caption")
            let summary = try CaptionRun.run(writer: writer, dataset: dataset, split: split, captioners: captioners, batchSize: batch,
                                             lease: try workers.leaseDuration(), progress: { done, total in line.update(done: done, total: total) },
                                             workerProgress: { line.note = workerRates($0) })
            line.finish()
            let everyOneFailed = summary.captioned == 0 && !summary.failed.isEmpty
            if options.json {
                try Output.json(summary)
            } else {
                let note = recorded == nil ? "" : " (answered from the catalog: the worker was not started)"
                Output.stderr("captions by \(summary.captioner): \(summary.captioned) captioned, \(summary.skipped) skipped (already captioned), \(summary.failed.count) failed\(note)")
                for failure in summary.failed.prefix(20) { Output.stderr("  \(failure.path): \(failure.error)") }
            }
            if everyOneFailed, let first = summary.failed.first {
                Output.stderr("error: all \(summary.failed.count) images failed; the first: \(first.path): \(first.error)")
                throw ExitCode(1)
            }
        }
    }

    struct Import: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "import",
            abstract: "Load captions made elsewhere: JSON lines {\"path\"|\"digest\", \"caption\"} under a captioner's name.",
            discussion: "Paths are those `loom ls` prints. Bad lines are reported with their line number; the rest still load.")

        @OptionGroup var options: StoreOptions

        @Argument(help: "A .jsonl file.")
        var file: String

        @Option(help: "Dataset name.")
        var dataset: String

        @Option(help: "The captioner's name (e.g. blip2-opt-2.7b).")
        var captioner: String

        func run() throws {
            let writer = try options.openReadWrite().makeWriter()
            let summary = try CaptionImport.run(writer: writer, file: file, dataset: dataset, captioner: captioner)
            if options.json { return try Output.json(summary) }
            Output.stderr("captions by \(captioner): \(summary.imported) imported, \(summary.unchanged) unchanged, \(summary.failed.count) failed")
            for failure in summary.failed.prefix(20) { Output.stderr("  line \(failure.line): \(failure.reason)") }
        }
    }
}
