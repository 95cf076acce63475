import ArgumentParser
import Foundation
import LoomLoader
import LoomStore

extension PixelCache.Codec: ExpressibleByArgument {}

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

        @Option(help: "How cache images are stored: lz4 (where it saves at least 1/16 of the bytes) or raw (larger, no decompress on each read).")
        var codec: PixelCache.Codec = .lz4

        @Option(help: "Decoding threads (default: all cores).")
        var workers: Int = ProcessInfo.processInfo.activeProcessorCount

        func run() throws {
            let writer = try options.openReadWrite().makeWriter()
            let progress = ProgressLine("cache")
            let summary = try PixelCache.build(
                writer: writer, selection: try selection.resolve(), spec: TransformSpec(size: size, augment: .eval),
                workers: workers, codec: codec) { progress.update(done: $0, total: $1) }
            progress.finish()
            if options.json { return try Output.json(summary) }
            Output.stderr("pixel cache (short side \(summary.shortSide), \(codec.rawValue)): \(summary.built) built, "
                + "\(summary.present) already present, \(summary.failed.count) failed; \(Output.bytes(summary.rawBytes)) raw -> "
                + "\(Output.bytes(summary.storedBytes)) stored in \(String(format: "%.1f", summary.seconds)) s")
            for failure in summary.failed.prefix(10) { Output.stderr("  failed: \(failure)") }
        }
    }
}
