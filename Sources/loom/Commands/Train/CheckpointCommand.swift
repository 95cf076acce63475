import ArgumentParser
import Foundation
import LoomDatasets
import LoomStore
import LoomTrain

struct CheckpointCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "checkpoint", abstract: "Training checkpoints out of the store.", subcommands: [Export.self])

    struct Export: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "export",
            abstract: "Write a run's model weights as safetensors with torchvision's names.",
            discussion: """
                For the Swift trainer's resnet18 and resnet50, torchvision.models.resnet18(num_classes=N) (or resnet50) \
                takes the file with load_state_dict(safetensors.torch.load_file(OUT)): the same names and layouts, \
                num_batches_tracked as int64. resnet-small keeps Loom's own names (tools/workers/torch_trainer.py's ResNetSmall takes them). \
                A --trainer torch run's model.safetensors is written as stored. \
                The optimiser state stays in the store's checkpoint. An existing OUT with other bytes is refused.
                """)

        @OptionGroup var options: StoreOptions

        @Argument(help: "The training run's id (`loom train --json` prints it as run_id).")
        var runID: Int64

        @Option(help: "The checkpoint after this epoch (default: the newest kept).")
        var epoch: Int?

        @Argument(help: "Output file, e.g. model.safetensors.")
        var out: String

        struct Report: Encodable { var run: Int64; var epoch: Int; var checkpoint: String; var out: String; var tensors: Int; var bytes: Int }

        func run() throws {
            let store = try options.openReadOnly()
            let result = try CheckpointExport.safeTensors(store, runID: runID, epoch: epoch)
            let url = URL(fileURLWithPath: out)
            let directory = url.deletingLastPathComponent().path
            try OutputFile.makeDirectory(directory)
            _ = try OutputFile.create(result.bytes, directory: directory, name: url.lastPathComponent)
            let report = Report(run: runID, epoch: result.epoch, checkpoint: result.digest.hex, out: out, tensors: result.tensors,
                                bytes: result.bytes.count)
            if options.json { return try Output.json(report) }
            Output.stderr("wrote \(result.tensors) tensors of run \(runID) after epoch \(result.epoch) to \(out) (\(Output.bytes(result.bytes.count)))")
        }
    }
}
