import ArgumentParser
import LoomStore

struct LsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ls", abstract: "List the real images of a dataset, one per line.",
        discussion: "Text output writes backslash, tab, newline and other control characters in names as \\\\, \\t, \\n, \\xHH; --json keeps them exact.")

    @OptionGroup var options: StoreOptions

    @Option(help: "Dataset name.")
    var dataset: String

    @Option(help: "Only this split.")
    var split: String?

    @Option(name: .customLong("class"), help: "Only this class (folder id, display name or prompt name).")
    var className: String?

    /// The JSON-lines shape of `loom ls --json`.
    struct Line: Encodable {
        var digest: String
        var split: String
        var `class`: String
        var label: Int
        var path: String
        var width: Int
        var height: Int
    }

    func run() throws {
        let store = try options.openReadOnly()
        let encoder = Output.lineEncoder()
        try RealImageListing.forEach(store, dataset: dataset, split: split, className: className) { entry in
            if options.json {
                try Output.jsonLine(Line(digest: entry.digest, split: entry.split, class: entry.class, label: entry.label,
                                         path: entry.path, width: entry.width, height: entry.height), encoder: encoder)
            } else {
                // Names are escaped: a tab or newline in one must not make a new column or line.
                let e = Output.escaped
                Output.stdout("\(entry.digest.prefix(16))  \(e(entry.split))\t\(e(entry.class))\t\(entry.width)x\(entry.height)\t\(e(entry.path))")
            }
        }
    }
}
