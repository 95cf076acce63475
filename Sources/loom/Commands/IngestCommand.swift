import ArgumentParser
import Foundation
import LoomImage
import LoomIngest
import LoomStore

struct IngestCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ingest",
        abstract: "Ingest a real dataset folder (ImageFolder or train/val layout).",
        discussion: """
            Layouts: ROOT/<class>/* (split from --split, default train), or ROOT/train/<class>/* and
            ROOT/val/<class>/* (splits from the folder names). Class names come from --class-names, or
            ROOT/LOC_synset_mapping.txt when present (`n01440764 tench, Tinca tinca`).
            Every file is read, hashed and fully validated; files that are not decodable JPEG or PNG
            images are rejected with a reason and the rest still go in. Re-running adds only what is new.
            """)

    @OptionGroup var options: StoreOptions

    @Argument(help: "Dataset folder.")
    var root: String

    @Option(help: "Dataset name in the store.")
    var dataset: String

    @Option(help: "Split for an ImageFolder layout (default: train).")
    var split: String?

    @Option(name: .customLong("class-names"), help: "Class names file in LOC_synset_mapping.txt form.")
    var classNames: String?

    @Option(help: "Decoding threads (default: all cores).")
    var workers: Int = ProcessInfo.processInfo.activeProcessorCount

    @Option(name: .customLong("max-pixels"), help: "Largest accepted width*height (decompression-bomb guard).")
    var maxPixels: Int = DecodeLimits.default.maxPixels

    @Flag(help: "Exit with status 2 when any file was rejected.")
    var strict = false

    func run() throws {
        // Check the folder before the store: a typo in ROOT must not leave an empty store behind.
        try DatasetScanner.checkRoot(root)
        let store = try options.openReadWrite()
        let ingestor = Ingestor(store: store, options: .init(
            dataset: dataset, split: split, classNamesPath: classNames, workers: workers,
            limits: DecodeLimits(maxPixels: maxPixels)))
        let progress = ProgressLine("ingest \(dataset)")
        let summary = try ingestor.run(root: root) { progress.update(done: $0.done, total: $0.total) }
        progress.finish()
        if options.json {
            try Output.json(summary)
        } else {
            Output.stderr(String(
                format: "ingested %@ from %@ (%@ layout): %d added, %d duplicates, %d unchanged, %d updated, %d rejected in %.1f s (%.0f img/s)",
                dataset, root, summary.layout, summary.added, summary.duplicates, summary.unchanged, summary.updated,
                summary.rejected.count, summary.seconds, summary.imagesPerSecond))
            for rejection in summary.rejected.prefix(20) { Output.stderr("  rejected \(rejection.path): \(rejection.reason)") }
            if summary.rejected.count > 20 { Output.stderr("  ... and \(summary.rejected.count - 20) more (--json lists all)") }
        }
        if strict && !summary.rejected.isEmpty { throw ExitCode(2) }
    }
}
