import Foundation
import LoomStore
import LoomTar

/// `loom checkpoint export`: a run's model weights as safetensors, named as torchvision names
/// them, so `torchvision.models.resnet18(num_classes=N).load_state_dict(load_file(OUT))` takes a
/// Swift-trained resnet18 or resnet50 (the layouts already match: convolutions OIHW, linear
/// weights out x in, BatchNorm's four tensors and `num_batches_tracked`). resnet-small keeps
/// Loom's names, which tools/workers/torch_trainer.py's ResNetSmall uses.
///
/// Both trainers' checkpoints hold `model.safetensors`; it is handed out as stored. A Swift
/// checkpoint of the first layout (one tensor archive) is converted.
public enum CheckpointExport {
    public struct Result: Sendable {
        public var epoch: Int
        public var digest: Digest
        public var bytes: [UInt8]
        public var tensors: Int
    }

    /// The checkpoint of `runID` after `epoch` (default: the newest), as safetensors.
    public static func safeTensors(_ store: Store, runID: Int64, epoch: Int? = nil) throws -> Result {
        let (checkpoint, location) = try store.read { catalog -> (CheckpointRecord, BlobLocation) in
            guard try catalog.runs.run(id: runID) != nil else { throw TrainError(.notFound, "no run \(runID)") }
            let checkpoints = try catalog.training.checkpoints(of: runID)
            guard let chosen = epoch.map({ e in checkpoints.first { $0.epoch == e } }) ?? checkpoints.last else {
                let kept = checkpoints.map { "\($0.epoch)" }.joined(separator: ", ")
                throw TrainError(.notFound, epoch.map { "run \(runID) has no checkpoint after epoch \($0) (kept: \(kept.isEmpty ? "none" : kept))" }
                                 ?? "run \(runID) has no checkpoint")
            }
            guard let blob = try catalog.blobs.blob(chosen.digest) else { throw TrainError(.corrupt, "checkpoint \(chosen.digest.hex) has no blob") }
            return (chosen, blob.location)
        }
        let bytes = try store.blobs.read(location)
        let file: [UInt8]
        if bytes.starts(with: TensorArchive.magic) {
            file = try TrainCheckpoint(decoding: bytes, digest: checkpoint.digest).modelSafeTensors()
        } else {
            let what = "checkpoint \(checkpoint.digest.hex) of run \(runID)"
            guard let weights = try TarReader.members(of: bytes, name: what)["model.safetensors"] else {
                throw TrainError(.corrupt, "\(what) holds no model.safetensors")
            }
            file = weights
        }
        // Checked from the header (offsets against the file) without converting the weights.
        let tensors = try SafeTensors.entries(file, name: "checkpoint \(checkpoint.digest.hex)'s model.safetensors").entries.count
        return Result(epoch: checkpoint.epoch, digest: checkpoint.digest, bytes: file, tensors: tensors)
    }
}
