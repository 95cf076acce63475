import ArgumentParser
import LoomStore

struct StatsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "stats", abstract: "Counts per dataset, split and class; blobs, bytes and shards.")

    @OptionGroup var options: StoreOptions

    @Flag(name: .customLong("per-class"), help: "List every class in text output.")
    var perClass = false

    func run() throws {
        let stats = try StoreStats.collect(try options.openReadOnly())
        if options.json { return try Output.json(stats) }
        Output.stdout("store \(stats.store)")
        for dataset in stats.datasets {
            Output.stdout("dataset \(Output.escaped(dataset.name)): \(dataset.images) images, \(dataset.classes) classes")
            for split in dataset.splits {
                Output.stdout("  \(split.name): \(split.images) images")
                if perClass {
                    for c in split.classes { Output.stdout("    \(c.label)\t\(c.wnid)\t\(c.images)\t\(c.name)") }
                } else {
                    let counts = split.classes.map(\.images)
                    if let low = counts.min(), let high = counts.max() {
                        Output.stdout("    per class: \(low)..\(high) (--per-class lists them)")
                    }
                }
            }
        }
        let b = stats.blobs
        Output.stdout("blobs: \(b.count) (\(b.lz4) lz4), original \(Output.bytes(b.originalBytes)), stored \(Output.bytes(b.storedBytes))")
        Output.stdout("shards: \(stats.shards.count) (\(stats.shards.sealed) sealed), \(Output.bytes(stats.shards.bytes)) on disk")
        if stats.shards.missing > 0 {
            Output.stdout("missing: \(stats.shards.missing) shard files, \(b.missing) blobs (\(Output.bytes(b.missingBytes))) unreadable; `loom repair --dry-run` lists what is lost")
        }
    }
}
