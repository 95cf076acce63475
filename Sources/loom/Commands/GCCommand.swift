import ArgumentParser
import LoomStore

struct GCCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "gc", abstract: "Reclaim the bytes no row references (deleted datasets, crash leftovers).")

    @OptionGroup var options: StoreOptions

    func run() throws {
        let writer = try options.openReadWrite().makeWriter()
        let report = try GarbageCollector.run(writer)
        if options.json { return try Output.json(report) }
        if !report.missingShards.isEmpty {
            Output.stderr("gc: left missing shard\(report.missingShards.count == 1 ? "" : "s") \(report.missingShards.joined(separator: ", ")) alone; `loom repair` drops the rows that point into them")
        }
        Output.stderr("gc: \(report.deletedBlobs) unreferenced blobs deleted, \(report.rewrittenShards) shards rewritten, \(report.removedShards) removed, \(Output.bytes(report.reclaimedBytes)) reclaimed")
    }
}
