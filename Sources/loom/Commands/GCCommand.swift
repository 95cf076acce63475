import ArgumentParser
import LoomStore

struct GCCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "gc", abstract: "Reclaim the bytes no row references (deleted datasets, crash leftovers).")

    @OptionGroup var options: StoreOptions

    @Option(help: ArgumentHelp(
        "Fleet store: seconds a shard object with no catalog row is kept (default 7200).",
        discussion: "A writer commits an upload at once and never more than an hour after it, so an object younger than the grace may still be about to be committed. Below 3600 that guarantee is gone."))
    var grace: Double?

    func run() throws {
        let store = try options.openReadWrite()
        if store.fleet != nil {
            let grace = try grace.map { seconds -> Duration in
                guard seconds.isFinite, seconds >= 0 else { throw ValidationError("--grace must be 0 or more seconds, not \(seconds)") }
                return .milliseconds(Int64(seconds * 1000))
            } ?? FleetGarbageCollector.defaultGrace
            return try printReport(FleetGarbageCollector.run(store, grace: grace))
        }
        guard grace == nil else { throw ValidationError("--grace is for a fleet store (--catalog/--blobs); the embedded store has no writers in flight") }
        try printReport(GarbageCollector.run(store.makeWriter()))
    }

    private func printReport(_ report: GCReport) throws {
        if options.json { return try Output.json(report) }
        if !report.missingShards.isEmpty {
            Output.stderr("gc: left missing shard\(report.missingShards.count == 1 ? "" : "s") \(report.missingShards.joined(separator: ", ")) alone; `loom repair` drops the rows that point into them")
        }
        Output.stderr("gc: \(report.deletedBlobs) unreferenced blobs deleted, \(report.rewrittenShards) shards rewritten, \(report.removedShards) removed, \(Output.bytes(report.reclaimedBytes)) reclaimed")
    }
}
