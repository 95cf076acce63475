import ArgumentParser

struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Benchmarks that print numbers beside the physical yardsticks measured in the same run.",
        subcommands: [BenchIngestCommand.self, BenchLoaderCommand.self, BenchDecodeCommand.self, BenchCorpusCommand.self,
                       BenchLineageCommand.self, BenchTrainCommand.self])
}
