import ArgumentParser
import Foundation
import LoomStore

struct ExportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "export",
        abstract: "Write a dataset's original files, byte for byte, as an ImageFolder.",
        discussion: "With --split: OUT/<class>/<file>. Without: OUT/<split>/<class>/<file>. Each file is checked against its digest first.")

    @OptionGroup var options: StoreOptions

    @Option(help: "Dataset name.")
    var dataset: String

    @Option(help: "Only this split.")
    var split: String?

    @Option(help: "Output format (imagefolder).")
    var format: String = "imagefolder"

    @Argument(help: "Output folder.")
    var out: String

    struct Report: Encodable { var dataset: String; var split: String?; var out: String; var files: Int; var bytes: Int }

    func validate() throws {
        guard format == "imagefolder" else { throw ValidationError("unknown --format \(format); supported: imagefolder") }
    }

    func run() throws {
        let store = try options.openReadOnly()
        var entries: [RealImageEntry] = []
        try RealImageListing.forEach(store, dataset: dataset, split: split) { entries.append($0) }
        let files = FileManager.default
        let progress = ProgressLine("export \(dataset)")
        var bytes = 0
        for (index, entry) in entries.enumerated() {
            guard !entry.name.split(separator: "/").contains(where: { $0 == ".." || $0 == "." }), !entry.class.contains("/") else {
                throw StoreError(.invalidArgument, "refusing to export \(entry.path): its name leaves the class folder")
            }
            let folder = split == nil ? "\(out)/\(entry.split)/\(entry.class)" : "\(out)/\(entry.class)"
            let target = "\(folder)/\(entry.name)"
            guard let digest = Digest(hex: entry.digest) else { throw StoreError(.corrupt, "bad digest for \(entry.path)") }
            let data = Data(try store.blobs.read(digest: digest, verifyDigest: true))
            let directory = (target as NSString).deletingLastPathComponent
            try files.createDirectory(atPath: directory, withIntermediateDirectories: true)
            try data.write(to: URL(fileURLWithPath: target), options: .atomic)
            bytes += data.count
            progress.update(done: index + 1, total: entries.count)
        }
        progress.finish()
        let report = Report(dataset: dataset, split: split, out: out, files: entries.count, bytes: bytes)
        if options.json { return try Output.json(report) }
        Output.stderr("exported \(entries.count) files (\(Output.bytes(bytes))) of \(dataset) to \(out)")
    }
}
