import Foundation
import LoomDatasets
import LoomLoader
import LoomStore

/// `loom export --format hf`: an image folder the `datasets` library's `imagefolder` builder
/// loads with Loom's labels and lineage.
///
/// Why `metadata.parquet` and not `metadata.jsonl`: the builder takes a metadata file's columns
/// from its Arrow schema and, once there is a metadata file, infers no labels from folder names;
/// JSON lines carry no schema, so their label could only be a plain integer. A Parquet file keeps
/// Hugging Face's features in its footer (key `huggingface`), and there the label is a ClassLabel
/// with the dataset's classes in Loom's order, which folder names sorted by `datasets` would not
/// always give.
struct HuggingFaceExport {
    let command: ExportCommand

    func run() throws {
        let store = try command.options.openReadOnly()
        let chosen = try command.chosenSelection(store)
        let datasets = Set(chosen.components.map(\.dataset))
        guard datasets.count == 1, let dataset = datasets.first else {
            throw StoreError(.invalidArgument, "--format hf exports one dataset's labels; the selection names \(datasets.sorted().joined(separator: ", "))")
        }
        let classes = try store.read { snapshot in
            try snapshot.datasets.classes(of: try snapshot.datasets.requireDataset(named: dataset).id).map(\.wnid)
        }
        let samples = try ExportSample.list(store, selection: chosen)
        var bySplit: [String: [(sample: ExportSample, file: String)]] = [:]
        var seen: Set<ExactName> = []
        for sample in samples {
            let split = sample.metadata.split == "synthetic" ? "train" : sample.metadata.split
            let name = sample.name ?? "synthetic-\(sample.digest.hex.prefix(16))"
            let file = "\(sample.metadata.class)/\(name)"
            guard seen.insert(ExactName("\(split)/\(file)")).inserted, !file.split(separator: "/").contains(where: { $0 == ".." || $0 == "." }) else {
                throw StoreError(.invalidArgument, "two images of the selection would both be written to \(split)/\(file); nothing was exported")
            }
            bySplit[split, default: []].append((sample, file))
        }

        let progress = ProgressLine("export \(chosen)")
        var bytes = 0, written = 0, done = 0, unchanged = 0
        for (split, entries) in bySplit.sorted(by: { $0.key < $1.key }) {
            var names: [String] = []
            for (sample, file) in entries {
                let data = try store.blobs.read(digest: sample.digest, verifyDigest: true)
                var path = file
                if sample.name == nil { path += "." + (try ExportSample.fileExtension(of: data)) }
                names.append(path)
                let target = "\(command.out)/\(split)/\(path)"
                let directory = String(target[..<target.lastIndex(of: "/")!])
                try OutputFile.makeDirectory(directory)
                switch try OutputFile.create(data, directory: directory, name: String(target[target.index(after: target.lastIndex(of: "/")!)...])) {
                case .written: written += 1
                case .identical: unchanged += 1
                }
                bytes += data.count
                done += 1
                progress.update(done: done, total: samples.count)
            }
            let table = try Self.metadata(entries.map(\.sample), fileNames: names, classes: classes)
            switch try OutputFile.create(try table.encoded(), directory: "\(command.out)/\(split)", name: "metadata.parquet") {
            case .written: written += 1
            case .identical: unchanged += 1
            }
        }
        progress.finish()
        let report = ExportCommand.FormatReport(format: "hf", selection: "\(chosen)", out: command.out, splits: bySplit.keys.sorted(),
                                                samples: samples.count, bytes: bytes, written: written, unchanged: unchanged)
        if command.options.json { return try Output.json(report) }
        Output.stderr("exported \(samples.count) images of \(chosen) to \(command.out) as a Hugging Face image folder "
                      + "(\(bySplit.keys.sorted().joined(separator: ", "))): \(written) files written, \(unchanged) already there")
    }

    /// The split's `metadata.parquet`: its columns, and the features `datasets` reads back.
    static func metadata(_ samples: [ExportSample], fileNames: [String], classes: [String]) throws -> ParquetTable {
        var table = ParquetTable()
        let m = samples.map(\.metadata)
        func strings(_ name: String, _ values: [String?]) { table.columns.append((name, .string(values))) }
        func ints(_ name: String, _ values: [Int64?]) { table.columns.append((name, .int64(values))) }
        strings("file_name", fileNames)
        ints("label", m.map { Int64($0.label) })
        strings("class", m.map(\.class))
        strings("class_name", m.map(\.class_name))
        strings("dataset", m.map(\.dataset))
        strings("split", m.map(\.split))
        strings("digest", m.map(\.digest))
        strings("path", m.map(\.path))
        strings("prompt", m.map(\.prompt))
        strings("strategy", m.map(\.strategy))
        strings("template", m.map(\.template))
        strings("caption", m.map(\.caption))
        strings("captioner", m.map(\.captioner))
        strings("generator", m.map(\.generator))
        strings("generator_version", m.map(\.generator_version))
        ints("seed", m.map(\.seed))
        ints("steps", m.map { $0.steps.map(Int64.init) })
        table.columns.append(("guidance", .double(m.map(\.guidance))))
        ints("width", m.map { $0.width.map(Int64.init) })
        ints("height", m.map { $0.height.map(Int64.init) })
        strings("real_digest", m.map(\.real_digest))
        strings("real_path", m.map(\.real_path))
        strings("real_split", m.map(\.real_split))

        // Hugging Face's features for those columns, as `datasets` writes them into Parquet footers.
        var features: [String: Any] = [:]
        for (name, column) in table.columns {
            switch column {
            case .string: features[name] = ["dtype": "string", "_type": "Value"]
            case .int64: features[name] = ["dtype": "int64", "_type": "Value"]
            case .double: features[name] = ["dtype": "float64", "_type": "Value"]
            }
        }
        features["label"] = ["names": classes, "_type": "ClassLabel"]
        let json = try JSONSerialization.data(withJSONObject: ["info": ["features": features]], options: [.sortedKeys])
        table.metadata = [("huggingface", String(decoding: json, as: UTF8.self))]
        return table
    }
}
