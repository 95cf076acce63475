import ArgumentParser
import Foundation
import LoomDatasets
import LoomStore

struct ExportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "export",
        abstract: "Write a dataset's original files, byte for byte, as an ImageFolder.",
        discussion: """
            With --split: OUT/<class>/<file>. Without: OUT/<split>/<class>/<file>. Each file is checked against its digest first.
            Export never replaces a file: one already there with the same bytes is left as it is (so re-running is
            safe), anything else there is an error naming it, and two images that would land on the same file stop
            the export before anything is written.
            """)

    @OptionGroup var options: StoreOptions

    @Option(help: "Dataset name.")
    var dataset: String

    @Option(help: "Only this split.")
    var split: String?

    @Option(help: "Output format (imagefolder).")
    var format: String = "imagefolder"

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
        guard format == "imagefolder" else { throw ValidationError("unknown --format \(format); supported: imagefolder") }
    }

    func run() throws {
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
}
