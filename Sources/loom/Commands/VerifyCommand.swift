import ArgumentParser
import LoomStore

struct VerifyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "verify",
        abstract: "Re-read every record and check it against the catalog.",
        discussion: """
            Exit status 0 when clean, 1 when anything is broken (each problem names its shard, offset, digest and the rows affected). \
            The catalog gets SQLite's integrity_check (it compares every index with its table); --quick runs quick_check instead. \
            --repair runs `loom repair` (with --dry-run, only lists).
            """)

    @OptionGroup var options: StoreOptions

    @Flag(help: "Check the catalog with PRAGMA quick_check (faster; misses indexes that disagree with their tables).")
    var quick = false

    @Flag(help: "Repair the store instead: what `loom repair` does.")
    var repair = false

    @Flag(name: .customLong("dry-run"), help: "With --repair: only list what would be dropped.")
    var dryRun = false

    func validate() throws {
        if dryRun && !repair { throw ValidationError("--dry-run goes with --repair") }
    }

    func run() throws {
        if repair { return try RepairCommand.run(options: options, dryRun: dryRun) }
        let store = try options.openReadOnly()
        let progress = ProgressLine("verify")
        let report = try Verifier.run(store, catalogCheck: quick ? .quick : .full) { progress.update(done: $0, total: $1, unit: "rec") }
        progress.finish()
        if options.json {
            try Output.json(report)
        } else {
            Output.stderr("verify: catalog \(report.catalog); \(report.shards) shards, \(report.records) records, \(Output.bytes(report.bytes)) checked")
            for problem in report.problems {
                let place = [problem.shard, problem.offset.map { "offset \($0)" }, problem.digest.map { "blob \($0)" }]
                    .compactMap { $0 }.joined(separator: ", ")
                Output.stderr("BROKEN \(place): \(problem.reason)")
                for row in problem.rows { Output.stderr("  affects \(Output.escaped("\(row.dataset)/\(row.split)/\(row.path)"))") }
            }
            Output.stderr(report.ok ? "OK" : "FAILED: \(report.problems.count) problem(s); `loom repair --dry-run` lists what repairing drops")
        }
        if !report.ok { throw ExitCode(1) }
    }
}
