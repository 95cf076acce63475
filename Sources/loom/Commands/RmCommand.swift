import ArgumentParser
import LoomStore

struct RmCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rm", abstract: "Delete a dataset (or one split) from the catalog; `loom gc` then reclaims its bytes.")

    @OptionGroup var options: StoreOptions

    @Option(help: "Dataset name.")
    var dataset: String

    @Option(help: "Only this split.")
    var split: String?

    struct Report: Encodable { var dataset: String; var split: String?; var deleted_images: Int }

    func run() throws {
        let writer = try options.openReadWrite().makeWriter()
        let deleted = try writer.transaction { try $0.datasets.delete(dataset: dataset, split: split) }
        if options.json { return try Output.json(Report(dataset: dataset, split: split, deleted_images: deleted)) }
        Output.stderr("removed \(deleted) images of \(dataset)\(split.map { "/" + $0 } ?? ""); run `loom gc` to reclaim their bytes")
    }
}
