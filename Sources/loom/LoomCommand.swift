import ArgumentParser

@main
struct LoomCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "loom",
        abstract: "A content-addressed dataset store and data loader for training on synthetic images.",
        discussion: """
            The store is a directory: --store PATH, else $LOOM_STORE, else ./loom-store.
            Every command takes --json: JSON goes to stdout; human text and progress go to stderr.
            """,
        subcommands: [
            IngestCommand.self, StatsCommand.self, LsCommand.self, CatCommand.self, VerifyCommand.self,
            GCCommand.self, ExportCommand.self, RmCommand.self, DatasetCommand.self, OrderCommand.self,
            StreamCommand.self, CacheCommand.self, CaptionCommand.self, PromptsCommand.self, GenerateCommand.self, SQLCommand.self,
            LineageCommand.self, SyntheticCommand.self, TrainCommand.self, ExperimentCommand.self,
            ServeCommand.self, BenchCommand.self,
        ])
}
