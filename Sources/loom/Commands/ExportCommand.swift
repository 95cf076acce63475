import ArgumentParser
import Foundation
import LoomDatasets
import LoomLoader
import LoomStore

struct ExportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "export",
        abstract: "Write a dataset's original files, byte for byte, as an ImageFolder or as WebDataset tar shards.",
        discussion: """
            --format imagefolder (the default): with --split, OUT/<class>/<file>; without, OUT/<split>/<class>/<file>.

            --format webdataset: OUT/NAME-000000.tar, ... of at most --shard-size bytes, from --dataset (its \
            splits, or --split) or any --selection (e.g. fm:synthetic:class-caption+fm:train; weights are \
            ignored). Each sample is KEY.jpg or KEY.png (the original bytes), KEY.cls (the label) and KEY.json \
            (class, class_name, label, dataset, split, digest; a real image's path; a synthetic image's prompt, \
            strategy, template, caption, captioner, generator, generator_version, seed, steps, guidance, \
            width, height and real_digest / real_path / real_split of the image its caption describes), KEY \
            being the sample's position in the selection. webdataset.WebDataset reads the shards as written.

            --format hf: a Hugging Face image folder, OUT/<split>/<class>/<file> (synthetic images in train/) \
            with OUT/<split>/metadata.parquet: file_name, label and the same columns as KEY.json. The label \
            column is a ClassLabel of the dataset's classes in Loom's label order (kept in the file's \
            Hugging Face features), so datasets.load_dataset("imagefolder", data_dir=OUT) loads it with \
            those columns and labels. One dataset per export.

            Each file is checked against its digest first.
            Export never replaces a file: one already there with the same bytes is left as it is (so re-running is
            safe), anything else there is an error naming it, and two images that would land on the same file stop
            the export before anything is written.
            """)

    @OptionGroup var options: StoreOptions

    @Option(help: "Dataset name.")
    var dataset: String?

    @Option(help: "Only this split.")
    var split: String?

    @Option(help: "Output format: imagefolder or webdataset.")
    var format: String = "imagefolder"

    @Option(help: "webdataset, hf: what to export instead of --dataset, DATASET:SPLIT and DATASET:synthetic:STRATEGY joined with +.")
    var selection: String?

    @Option(name: .customLong("shard-size"), help: "webdataset: the most bytes a tar shard holds, e.g. 256MiB (a bigger sample gets a shard of its own).")
    var shardSize: String = "256MiB"

    @Option(help: "webdataset: shard file name prefix (NAME-000000.tar).")
    var name: String = "loom"

    @Argument(help: "Output folder.")
    var out: String

    struct Report: Encodable {
        var dataset: String
        var split: String?
        var out: String
        var files: Int
        var bytes: Int
        /// Files written by this run; the others were already there with the same bytes.
        var written: Int
        var unchanged: Int
    }

    func validate() throws {
        guard ["imagefolder", "webdataset", "hf"].contains(format) else {
            throw ValidationError("unknown --format \(format); supported: imagefolder, webdataset, hf")
        }
        guard (dataset == nil) != (selection == nil) else { throw ValidationError("name what to export: --dataset or --selection (one of them)") }
        if selection != nil && format == "imagefolder" { throw ValidationError("--selection needs --format webdataset or hf") }
        if selection != nil && split != nil { throw ValidationError("--split goes with --dataset; a selection names its splits") }
        guard StreamBudget.parseBytes(shardSize).map({ $0 > 0 }) == true else {
            throw ValidationError("--shard-size: \"\(shardSize)\" is not a byte count above 0, like 256MiB")
        }
    }

    func run() throws {
        if format == "webdataset" { return try exportWebDataset() }
        if format == "hf" { return try HuggingFaceExport(command: self).run() }
        let dataset = dataset!
        let store = try options.openReadOnly()
        var entries: [RealImageEntry] = []
        try RealImageListing.forEach(store, dataset: dataset, split: split) { entries.append($0) }
        let targets = try entries.map(target)
        try Self.checkDistinct(targets, entries)
        let progress = ProgressLine("export \(dataset)")
        var bytes = 0, written = 0
        for (index, entry) in entries.enumerated() {
            guard let digest = Digest(hex: entry.digest) else { throw StoreError(.corrupt, "bad digest for \(entry.path)") }
            let data = try store.blobs.read(digest: digest, verifyDigest: true)
            let (directory, name) = targets[index]
            try OutputFile.makeDirectory(directory)
            if try OutputFile.create(data, directory: directory, name: name) == .written { written += 1 }
            bytes += data.count
            progress.update(done: index + 1, total: entries.count)
        }
        progress.finish()
        let report = Report(dataset: dataset, split: split, out: out, files: entries.count, bytes: bytes,
                            written: written, unchanged: entries.count - written)
        if options.json { return try Output.json(report) }
        Output.stderr("exported \(entries.count) files (\(Output.bytes(bytes))) of \(dataset) to \(out): "
                      + "\(written) written, \(entries.count - written) already there")
    }

    /// The folder and file name `entry` is written to.
    private func target(_ entry: RealImageEntry) throws -> (directory: String, name: String) {
        func isPlain(_ name: Substring) -> Bool { !name.isEmpty && name != "." && name != ".." && !name.contains("/") }
        let parts = entry.name.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.allSatisfy(isPlain), isPlain(Substring(entry.class)), split != nil || isPlain(Substring(entry.split)) else {
            throw StoreError(.invalidArgument, "refusing to export \(entry.path): its name leaves the class folder")
        }
        let folder = split == nil ? "\(out)/\(entry.split)/\(entry.class)" : "\(out)/\(entry.class)"
        let subfolders = parts.dropLast().joined(separator: "/")
        return (subfolders.isEmpty ? folder : folder + "/" + subfolders, String(parts.last!))
    }

    /// Fails, naming both images, when two would be written to the same file. Paths are compared
    /// by their bytes, as the file system compares them.
    private static func checkDistinct(_ targets: [(directory: String, name: String)], _ entries: [RealImageEntry]) throws {
        var seen: [ExactName: Int] = [:]
        for (index, target) in targets.enumerated() {
            let path = ExactName(target.directory + "/" + target.name)
            if let other = seen.updateValue(index, forKey: path) {
                let (a, b) = (entries[other], entries[index])
                throw StoreError(.invalidArgument, """
                    images \(a.path) and \(b.path) of split \(b.split) would both be written to \(path); \
                    nothing was exported
                    """)
            }
        }
    }

    /// What `--format webdataset` or `--format hf` wrote (`--json`): the shards, or the splits.
    struct FormatReport: Encodable {
        var format: String
        var selection: String
        var out: String
        var shards: [String]?
        var splits: [String]?
        var samples: Int
        var bytes: Int
        /// Files written by this run; the others were already there with the same bytes.
        var written: Int
        var unchanged: Int
    }

    /// --selection, or --dataset's splits (or --split).
    func chosenSelection(_ store: Store) throws -> Selection {
        try selection.map { try Selection(parsing: $0) } ?? Selection(try store.read { snapshot in
            let record = try snapshot.datasets.requireDataset(named: dataset!)
            let splits = try split.map { [$0] } ?? snapshot.datasets.splitNames(of: record.id)
            return splits.map { Selection.Component(dataset: dataset!, split: $0) }
        })
    }

    private func exportWebDataset() throws {
        let store = try options.openReadOnly()
        let chosen = try chosenSelection(store)
        let samples = try ExportSample.list(store, selection: chosen)
        var writer = try WebDatasetWriter(directory: out, name: name, shardBytes: StreamBudget.parseBytes(shardSize)!)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        let progress = ProgressLine("export \(chosen)")
        let width = max(6, String(samples.count).count)
        for (index, sample) in samples.enumerated() {
            let bytes = try store.blobs.read(digest: sample.digest, verifyDigest: true)
            let fileExtension = sample.fileExtension.isEmpty ? try ExportSample.fileExtension(of: bytes) : sample.fileExtension
            let digits = String(index)
            try writer.add(key: String(repeating: "0", count: max(0, width - digits.count)) + digits, members: [
                (fileExtension, bytes), ("cls", Array("\(sample.label)".utf8)), ("json", Array(try encoder.encode(sample.metadata))),
            ])
            progress.update(done: index + 1, total: samples.count)
        }
        let summary = try writer.finish()
        progress.finish()
        let report = FormatReport(format: format, selection: "\(chosen)", out: out, shards: summary.shards, samples: summary.samples,
                                  bytes: summary.bytes, written: summary.written, unchanged: summary.unchanged)
        if options.json { return try Output.json(report) }
        Output.stderr("exported \(summary.samples) samples of \(chosen) to \(out) as \(summary.shards.count) WebDataset shards "
                      + "(\(Output.bytes(summary.bytes))): \(summary.written) written, \(summary.unchanged) already there")
    }
}
