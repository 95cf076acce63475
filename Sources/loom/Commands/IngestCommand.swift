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
            Layouts: ROOT/<class>/* (split from --split, default train), or ROOT/train/<class>/* and \
            ROOT/val/<class>/* (splits from the folder names). Classes are labelled 0, 1, ... in the byte \
            order of their folder names, train and val alike (torchvision's rule).

            ImageNet-1K as shipped (ROOT = ILSVRC/Data/CLS-LOC): val/ is flat (val/*.JPEG). Its images take \
            their class from Kaggle's LOC_val_solution.csv (`ImageId,PredictionString`; the first token of \
            the prediction is the wnid), found in ROOT or up to three folders above it (where Kaggle's \
            download puts it) or named with --val-labels; a file with one wnid per line in image order \
            (imagenet_2012_validation_synset_labels.txt) works too. The devkit's \
            ILSVRC2012_validation_ground_truth.txt is refused: its ILSVRC2012_IDs map to wnids only in \
            meta.mat, in an order that is not the wnid order. A val image with no label, or with a label \
            that names no class folder, is rejected; a flat folder with no labels at all (test/) is one \
            rejection.

            Class names come from --class-names, else LOC_synset_mapping.txt (`n01440764 tench, Tinca \
            tinca`) in ROOT or up to three folders above it, else, when the classes are exactly those of \
            fast.ai's ImageNette or Imagewoof, from built-in tables of their ten names.

            --classes FILE ingests a subset (ImageNet-100): one class folder name per line, blank lines and \
            #-comments ignored, labelled in the byte order of the names listed. Other class folders are not \
            read; val images labelled with other classes are counted as skipped. A name with no class \
            folder is an error.

            --labels-csv FILE --label-column COLUMN takes each file's class from a CSV with a header and a \
            `path` column relative to ROOT, such as fast.ai's noisy_imagenette.csv (noisy_labels_0 is clean; \
            noisy_labels_1/5/25/50 are noisy). A file with no row is rejected. Re-ingesting with another \
            column moves the relabelled images to their new classes.

            --format webdataset TAR...: WebDataset tar shards (read with libarchive), each sample KEY.jpg or \
            KEY.png with its label in KEY.cls (a class id or a number) or KEY.json ("class", else "label"; \
            "class_name" names the class), into --split (default train). Numbers become zero-padded class ids, \
            so labels 0..N-1 stay 0..N-1. Images are validated, deduplicated and reported as from a folder; a \
            sample with no image or no label is a rejection.

            Every file is read, hashed and fully validated; files that are not decodable JPEG or PNG images \
            are rejected with a reason and the rest still go in. Re-running adds only what is new. Links \
            inside ROOT are followed; a directory link that leads out of ROOT is rejected unless \
            --follow-links is given; --max-files bounds the walk, which stops before anything is stored once \
            it finds more. Names are compared byte for byte, so class folders that differ only in Unicode \
            normalization are separate classes, labelled in byte (code-point) order as torchvision's \
            ImageFolder labels them.

            On a fleet store, processes that ingest one tree into one dataset at once (any machines that see \
            it) share the files: they claim shares of them from the catalog under --lease, so each file is \
            read and uploaded once, and a killed process's share is taken by another once its lease runs out. \
            Each process ends by ingesting anything of its own scan still missing; `ingested_elsewhere` in \
            --json counts the files the others took.
            """)

    @OptionGroup var options: StoreOptions

    @Argument(help: "Dataset folder; with --format webdataset, tar shards (paths, globs, brace ranges like shard-{000000..000099}.tar).")
    var roots: [String]

    @Option(help: "Input format: imagefolder (a dataset folder, the default) or webdataset (tar shards).")
    var format: String = "imagefolder"

    @Option(help: "Dataset name in the store.")
    var dataset: String

    @Option(help: "Split for an ImageFolder layout (default: train).")
    var split: String?

    @Option(name: .customLong("class-names"), help: "Class names file in LOC_synset_mapping.txt form.")
    var classNames: String?

    @Option(help: "Ingest only the classes named in this file, one per line (ImageNet-100 and other subsets).")
    var classes: String?

    @Option(name: .customLong("val-labels"), help: "Labels for a flat val/ folder (LOC_val_solution.csv form).")
    var valLabels: String?

    @Option(name: .customLong("labels-csv"), help: "Per-file labels CSV with a `path` column (noisy_imagenette.csv form).")
    var labelsCSV: String?

    @Option(name: .customLong("label-column"), help: "The --labels-csv column holding each file's class (e.g. noisy_labels_5).")
    var labelColumn: String?

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

    @OptionGroup var lease: LeaseOption

    func validate() throws {
        guard ["imagefolder", "webdataset"].contains(format) else {
            throw ValidationError("unknown --format \(format); supported: imagefolder, webdataset")
        }
        guard !roots.isEmpty else { throw ValidationError("name the dataset folder (or, with --format webdataset, the tar shards)") }
        if format == "imagefolder" && roots.count > 1 {
            throw ValidationError("one dataset folder at a time (\(roots.count) given); tar shards need --format webdataset")
        }
        if format == "webdataset" && [labelsCSV, valLabels, classNames].contains(where: { $0 != nil }) {
            throw ValidationError("--labels-csv, --val-labels and --class-names are for folders; tar shards carry labels in .cls/.json")
        }
        guard maxFiles >= 1 else { throw ValidationError("--max-files must be at least 1, got \(maxFiles)") }
        guard (labelsCSV == nil) == (labelColumn == nil) else {
            throw ValidationError("--labels-csv and --label-column go together: the CSV's label column must be named")
        }
    }

    func run() throws {
        let ingestOptions = Ingestor.Options(
            dataset: dataset, split: split, classNamesPath: classNames, workers: workers,
            limits: DecodeLimits(maxPixels: maxPixels), followLinks: followLinks, maxFiles: maxFiles, classesPath: classes,
            valLabelsPath: valLabels, labelsCSVPath: labelsCSV, labelColumn: labelColumn, lease: try lease.duration())
        // Walk the folder before opening the store: a typo in ROOT or a walk past --max-files
        // must not leave an empty store behind.
        let plan = format == "webdataset"
            ? try Ingestor.plan(source: WebDatasetSource(patterns: roots), options: ingestOptions)
            : try Ingestor.plan(root: roots[0], options: ingestOptions)
        let root = plan.root
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
            if summary.skipped > 0 { Output.stderr("  skipped \(summary.skipped) images of classes not in --classes") }
            if let valLabels = summary.valLabels { Output.stderr("  val labels from \(valLabels)") }
            if let classNames = summary.classNames { Output.stderr("  class names from \(classNames)") }
            for rejection in summary.rejected.prefix(20) { Output.stderr("  rejected \(rejection.path): \(rejection.reason)") }
            if summary.rejected.count > 20 { Output.stderr("  ... and \(summary.rejected.count - 20) more (--json lists all)") }
        }
        if strict && !summary.rejected.isEmpty { throw ExitCode(2) }
    }
}
