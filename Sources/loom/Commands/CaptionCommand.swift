import ArgumentParser
import LoomPipeline
import LoomStore

struct CaptionCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "caption", abstract: "Captions of real images.", subcommands: [Import.self])

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
