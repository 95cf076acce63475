import ArgumentParser
import LoomStore

struct RepairCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "repair",
        abstract: "Drop what a damaged store has lost (missing or cut shards, broken records), so that it verifies again.",
        discussion: """
            Lists the lost blobs and every row built on them (real and synthetic images, captions, prompts, \
            pixel-cache entries, checkpoints, training-run samples), then deletes those rows, rewrites damaged \
            shards from their intact records and rebuilds the catalog's indexes if its check fails. \
            With --dry-run it only lists. Bytes only the dropped rows kept are reclaimed by `loom gc`. \
            `loom verify --repair` is the same command.
            """)

    @OptionGroup var options: StoreOptions

    @Flag(name: .customLong("dry-run"), help: "Only list what would be dropped.")
    var dryRun = false

    func run() throws { try Self.run(options: options, dryRun: dryRun) }

    /// Also what `loom verify --repair` runs. Exit status 1 when the store still does not verify.
    static func run(options: StoreOptions, dryRun: Bool) throws {
        try options.requireEmbedded("repair")
        // Not `openReadWrite()`: its missing-shard warning is what this command answers.
        let store = dryRun ? try options.openReadOnly() : try Store(options.layout, access: .readWrite)
        let report = try StoreRepair.run(store, dryRun: dryRun)
        if options.json { try Output.json(report) } else { printText(report) }
        if !report.ok && !report.dryRun { throw ExitCode(1) }
    }

    static func printText(_ report: RepairReport) {
        let verb = report.dryRun ? "would drop" : "dropped"
        for shard in report.missingShards { Output.stderr("missing shard \(shard)") }
        for blob in report.lostBlobs {
            Output.stderr("lost blob \(blob.digest) in \(blob.shard)\(blob.offset.map { " at offset \($0)" } ?? ""): \(blob.reason)")
        }
        for image in report.realImages {
            Output.stderr("\(verb) image \(Output.escaped("\(image.dataset)/\(image.split)/\(image.path)"))")
        }
        for image in report.syntheticImages {
            let why = image.lost ? "its bytes are lost" : "generated from a caption of a lost image"
            Output.stderr("\(verb) synthetic image \(image.digest) (\(Output.escaped(image.dataset)), \(image.strategy)): \(why)")
        }
        for checkpoint in report.checkpoints {
            Output.stderr("\(verb) checkpoint of run \(checkpoint.runID), epoch \(checkpoint.epoch)")
        }
        var counts: [String] = []
        if report.captions > 0 { counts.append("\(report.captions) captions") }
        if report.prompts > 0 { counts.append("\(report.prompts) prompts") }
        if report.pixelCache > 0 { counts.append("\(report.pixelCache) pixel-cache entries") }
        if report.runSamples > 0 { counts.append("\(report.runSamples) training-run sample rows") }
        if !counts.isEmpty { Output.stderr("\(verb) with them: " + counts.joined(separator: ", ")) }
        for shard in report.rewrittenShards { Output.stderr("rewrote damaged shard \(shard) from its intact records") }
        for failure in report.unrewritten { Output.stderr("could not rewrite damaged shard \(failure)") }
        if report.reindexed { Output.stderr("rebuilt the catalog's indexes") }
        let nothing = report.lostBlobs.isEmpty && report.missingShards.isEmpty && report.rewrittenShards.isEmpty && !report.reindexed
        if report.dryRun {
            Output.stderr(report.ok ? "nothing to repair" : "dry run: nothing changed; `loom repair` does the above")
        } else {
            Output.stderr(report.ok ? (nothing ? "nothing to repair; the store verifies" : "repaired; the store verifies")
                                    : "FAILED: the store still does not verify (catalog: \(report.catalog)); see `loom verify`")
        }
    }
}
