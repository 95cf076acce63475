import ArgumentParser
import LoomFleet
import LoomStore

struct CopyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "copy",
        abstract: "Copy datasets with their captions, prompts and synthetic images into another store (local <-> fleet).",
        discussion: """
            The source is named as for every command (--store, --catalog, --blobs); the target by --to and, for a fleet \
            target, --to-catalog/--to-blobs or what `loom init` recorded in the --to folder (the LOOM_* variables name the \
            source only). Rows are matched by their natural keys and blobs by digest, so nothing the target holds is \
            copied again and a rerun, or a run after a kill, finishes the copy. Runs (jobs, epochs, checkpoints) and pixel \
            caches are not copied: runs are the history of one catalog, and `loom cache build` remakes a cache.
            """)

    @OptionGroup var options: StoreOptions

    @Option(help: "Target store directory (a fleet target's working folder).")
    var to: String

    @Option(name: .customLong("to-catalog"), help: "Target's PostgreSQL catalog URL (a fleet target).")
    var toCatalog: String?

    @Option(name: .customLong("to-blobs"), help: "Target's s3://bucket/prefix (a fleet target).")
    var toBlobs: String?

    @Option(name: .customLong("to-cache-size"), help: "A fleet target's shard cache limit, e.g. 10GiB.")
    var toCacheSize: String?

    @Option(name: .long, help: "Copy only this dataset (repeat for more; default: every dataset).")
    var dataset: [String] = []

    func run() throws {
        let source = try options.openReadOnly()
        let layout = StoreLayout(root: to)
        let fleet = try FleetConfiguration.resolve(catalog: toCatalog, blobs: toBlobs, cacheSize: toCacheSize,
                                                   layout: layout, environment: [:])
        let target = try StoreOptions.open(layout, fleet: fleet.isFleet ? fleet : nil, access: .readWrite)
        var line: ProgressLine?
        var phase = ""
        let copy = try StoreCopy(from: source, to: target) { progress in
            if progress.phase + progress.dataset != phase {
                line?.finish()
                phase = progress.phase + progress.dataset
                line = ProgressLine("copy \(progress.dataset) \(progress.phase)")
            }
            line?.update(done: progress.done, total: progress.total, unit: "row")
        }
        let summary = try copy.run(datasets: dataset.isEmpty ? nil : dataset)
        line?.finish()
        if options.json { return try Output.json(summary) }
        Output.stderr("""
            copied \(summary.datasets.count) dataset\(summary.datasets.count == 1 ? "" : "s") to \(target.identity): \
            \(summary.realImages) real images, \(summary.captions) captions, \(summary.prompts) prompts, \
            \(summary.synthetic) synthetic images; \(summary.blobsCopied) blobs written (\(Output.bytes(Int(summary.bytesCopied)))), \
            \(summary.blobsPresent) already there
            """)
    }
}
