import ArgumentParser
import Foundation
import LoomLoader
import LoomStore

struct CacheCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cache", abstract: "The pixel cache: pre-decoded samples for fast epochs.",
        subcommands: [Build.self])

    struct Build: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "build",
            abstract: "Pre-decode a selection at the evaluation resize of --size (short side size/0.875), LZ4 in shards.",
            discussion: "The loader uses the cache automatically when it matches --size. Re-running builds only what is missing.")

        @OptionGroup var options: StoreOptions
        @OptionGroup var selection: SelectionOptions

        @Option(help: "The loader output size the cache serves (cached short side = size / 0.875).")
        var size: Int = 224

        @Option(help: "Decoding threads (default: all cores).")
        var workers: Int = ProcessInfo.processInfo.activeProcessorCount

        func run() throws {
            let writer = try options.openReadWrite().makeWriter()
            let progress = ProgressLine("cache")
            let summary = try PixelCache.build(
                writer: writer, selection: try selection.resolve(), spec: TransformSpec(size: size, augment: .eval),
                workers: workers) { progress.update(done: $0, total: $1) }
            progress.finish()
            if options.json { return try Output.json(summary) }
            Output.stderr(String(
                format: "pixel cache (short side %d): %d built, %d already present, %d failed; %@ raw -> %@ stored in %.1f s",
                summary.shortSide, summary.built, summary.present, summary.failed.count, Output.bytes(summary.rawBytes),
                Output.bytes(summary.storedBytes), summary.seconds))
            for failure in summary.failed.prefix(10) { Output.stderr("  failed: \(failure)") }
        }
    }
}
