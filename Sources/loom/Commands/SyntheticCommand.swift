import ArgumentParser
import Foundation
import LoomPipeline
import LoomStore

struct SyntheticCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "synthetic",
        abstract: "List synthetic images with their prompt, caption, real image and class, one per line.",
        discussion: "Filters combine with AND. --caption-contains is a case-insensitive substring (% and _ match themselves).")

    @OptionGroup var options: StoreOptions

    @Option(help: "Only this dataset.")
    var dataset: String?

    @Option(name: .customLong("caption-contains"), help: "Only images whose caption contains this text (case-insensitive).")
    var captionContains: String?

    @Option(help: "Only this prompt strategy.")
    var strategy: String?

    @Option(name: .customLong("class"), help: "Only this class (folder id, display name or prompt name).")
    var className: String?

    @Option(help: "Only this generator (name).")
    var generator: String?

    func run() throws {
        let store = try options.openReadOnly()
        let filter = Lineage.Filter(dataset: dataset, captionContains: captionContains, strategy: strategy,
                                    className: className, generator: generator)
        let encoder = Output.lineEncoder()
        var count = 0
        try Lineage.forEachSynthetic(store, filter: filter) { entry in
            count += 1
            if options.json { return try Output.jsonLine(entry, encoder: encoder) }
            Output.stdout("\(entry.digest.prefix(16))  \(entry.dataset)\t\(entry.class)\t\(entry.strategy)\t\(entry.generator) seed \(entry.seed)\t\(entry.prompt)")
        }
        if !options.json { Output.stderr("\(count) synthetic image\(count == 1 ? "" : "s")") }
    }
}
