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
            Links inside ROOT are followed; a directory link that leads out of ROOT is rejected unless
            --follow-links is given; --max-files bounds the walk, which stops before anything is stored
            once it finds more. Names are compared byte for byte, so class folders that differ only
            in Unicode normalization are separate classes, labelled in byte (code-point) order as
            torchvision's ImageFolder labels them.
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

    @Flag(name: .customLong("follow-links"), help: "Follow directory links that lead out of the dataset folder.")
    var followLinks = false

    @Option(name: .customLong("max-files"), help: "Stop, storing nothing, when the folder holds more files than this.")
    var maxFiles: Int = DatasetScanner.defaultMaxFiles

    @Flag(help: "Exit with status 2 when any file was rejected.")
    var strict = false

    func validate() throws {
        guard maxFiles >= 1 else { throw ValidationError("--max-files must be at least 1, got \(maxFiles)") }
    }

    func run() throws {
        let ingestOptions = Ingestor.Options(
            dataset: dataset, split: split, classNamesPath: classNames, workers: workers,
            limits: DecodeLimits(maxPixels: maxPixels), followLinks: followLinks, maxFiles: maxFiles)
        // Walk the folder before opening the store: a typo in ROOT or a walk past --max-files
        // must not leave an empty store behind.
        let plan = try Ingestor.plan(root: root, options: ingestOptions)
        let store = try options.openReadWrite()
        let progress = ProgressLine("ingest \(dataset)")
        let summary = try Ingestor(store: store, options: ingestOptions).run(plan) { progress.update(done: $0.done, total: $0.total) }
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
