import ArgumentParser
import LoomStore

struct VerifyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "verify",
        abstract: "Re-read every record and check it against the catalog.",
        discussion: "Exit status 0 when clean, 1 when anything is broken (each problem names its shard, offset, digest and the rows affected).")

    @OptionGroup var options: StoreOptions

    func run() throws {
        let store = try options.openReadOnly()
        let progress = ProgressLine("verify")
        let report = try Verifier.run(store) { progress.update(done: $0, total: $1, unit: "rec") }
        progress.finish()
        if options.json {
            try Output.json(report)
        } else {
            Output.stderr("verify: catalog \(report.catalog); \(report.shards) shards, \(report.records) records, \(Output.bytes(report.bytes)) checked")
            for problem in report.problems {
                let place = [problem.shard, problem.offset.map { "offset \($0)" }, problem.digest.map { "blob \($0)" }]
                    .compactMap { $0 }.joined(separator: ", ")
                Output.stderr("BROKEN \(place): \(problem.reason)")
                for row in problem.rows { Output.stderr("  affects \(row.dataset)/\(row.split)/\(row.path)") }
            }
            Output.stderr(report.ok ? "OK" : "FAILED: \(report.problems.count) problem(s)")
        }
        if !report.ok { throw ExitCode(1) }
    }
}
