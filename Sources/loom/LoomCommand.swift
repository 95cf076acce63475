import ArgumentParser
import Foundation

@main
struct LoomCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "loom",
        abstract: "A content-addressed dataset store and data loader for training on synthetic images.",
        discussion: """
            The store is a directory: --store PATH, else $LOOM_STORE, else ./loom-store. --store and --json
            may also come before the subcommand (loom --store DIR ingest ROOT). A fleet store (PostgreSQL
            catalog, S3 shards: --catalog/--blobs, or `loom init` once) uses that directory as its cache.
            Every command takes --json: JSON goes to stdout; human text and progress go to stderr.
            A command that fails with --json also prints {"error": {"code": ..., "message": ...}} to stdout.
            """,
        version: LoomVersion.string,
        subcommands: [
            InitCommand.self, IngestCommand.self, StatsCommand.self, LsCommand.self, CatCommand.self, VerifyCommand.self,
            RepairCommand.self, GCCommand.self, ExportCommand.self, CopyCommand.self, RmCommand.self, DatasetCommand.self, OrderCommand.self,
            StreamCommand.self, CacheCommand.self, CaptionCommand.self, PromptsCommand.self, GenerateCommand.self, SQLCommand.self,
            LineageCommand.self, SyntheticCommand.self, TrainCommand.self, ExperimentCommand.self, CheckpointCommand.self,
            ServeCommand.self, BenchCommand.self,
        ])

    /// ArgumentParser's `main()`, with every failure also reported as JSON when asked for.
    /// Async so that `loom serve` runs its server as an async command; the other commands are
    /// synchronous and run as they are.
    static func main() async {
        let arguments = LeadingOptions.hoisted(Array(CommandLine.arguments.dropFirst()))
        do {
            var command = try await asyncParseAsRoot(arguments)
            if var asyncCommand = command as? any AsyncParsableCommand {
                try await asyncCommand.run()
            } else {
                try command.run()
            }
        } catch {
            CommandFailure.report(error, arguments: arguments)
            if let status = CommandFailure.exitStatus(for: error) {
                // ArgumentParser's own wording on stderr, with the status the code calls for.
                FileHandle.standardError.write(Data((fullMessage(for: error) + "\n").utf8))
                Foundation.exit(status)
            }
            exit(withError: error)
        }
    }
}
