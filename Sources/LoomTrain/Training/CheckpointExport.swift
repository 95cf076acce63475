import Foundation
import LoomStore

/// `loom checkpoint export`: a run's model weights as safetensors, named as torchvision names
/// them, so `torchvision.models.resnet18(num_classes=N).load_state_dict(load_file(OUT))` takes a
/// Swift-trained resnet18 or resnet50 (the layouts already match: convolutions OIHW, linear
/// weights out x in, BatchNorm's four tensors and `num_batches_tracked`). resnet-small keeps
/// Loom's names, which tools/workers/torch_trainer.py's ResNetSmall uses. A torch trainer's
/// checkpoint holds model.safetensors already; that file is handed out as it is.
public enum CheckpointExport {
    public struct Result: Sendable {
        public var epoch: Int
        public var digest: Digest
        public var bytes: [UInt8]
        public var tensors: Int
    }

    /// The checkpoint of `runID` after `epoch` (default: the newest), as safetensors.
    public static func safeTensors(_ store: Store, runID: Int64, epoch: Int? = nil) throws -> Result {
        let (checkpoint, location, model) = try store.read { catalog -> (CheckpointRecord, BlobLocation, String) in
            guard let run = try catalog.runs.run(id: runID) else { throw TrainError(.notFound, "no run \(runID)") }
            let checkpoints = try catalog.training.checkpoints(of: runID)
            guard let chosen = epoch.map({ e in checkpoints.first { $0.epoch == e } }) ?? checkpoints.last else {
                let kept = checkpoints.map { "\($0.epoch)" }.joined(separator: ", ")
                throw TrainError(.notFound, epoch.map { "run \(runID) has no checkpoint after epoch \($0) (kept: \(kept.isEmpty ? "none" : kept))" }
                                 ?? "run \(runID) has no checkpoint")
            }
            guard let blob = try catalog.blobs.blob(chosen.digest) else { throw TrainError(.corrupt, "checkpoint \(chosen.digest.hex) has no blob") }
            return (chosen, blob.location, Self.modelName(run.config))
        }
        let bytes = try store.blobs.read(location)
        if bytes.starts(with: TensorArchive.magic) {
            let decoded = try TrainCheckpoint(decoding: bytes, digest: checkpoint.digest)
            var tensors: [String: Tensor] = [:]
            let torchvision = ["resnet18", "resnet50"].contains(model)
            for (name, tensor) in decoded.model { tensors[torchvision ? torchvisionName(name) : name] = tensor }
            let counters = Set(tensors.keys.filter { $0.hasSuffix(".num_batches_tracked") })
            let file = try SafeTensors.encode(tensors, int64: counters, metadata: [
                "format": "pt", "model": model, "epoch": "\(checkpoint.epoch)", "loom_run": "\(runID)",
            ])
            return Result(epoch: checkpoint.epoch, digest: checkpoint.digest, bytes: file, tensors: tensors.count)
        }
        throw TrainError(.invalidInput, """
            checkpoint \(checkpoint.digest.hex) of run \(runID) is a torch trainer's tar, which holds model.safetensors already: \
            loom cat \(checkpoint.digest.hex) | tar -xO model.safetensors > OUT.safetensors
            """)
    }

    /// `stageN.` is torchvision's `layerN.`; every other name is already torchvision's.
    static func torchvisionName(_ name: String) -> String {
        guard name.hasPrefix("stage"), let dot = name.firstIndex(of: "."), Int(name[name.index(name.startIndex, offsetBy: 5)..<dot]) != nil else {
            return name
        }
        return "layer" + name.dropFirst(5)
    }

    /// The training config's `model` (a train run's config is `{"config": {...}, "samples": ...}`), or "".
    private static func modelName(_ config: String) -> String {
        let object = (try? JSONSerialization.jsonObject(with: Data(config.utf8))) as? [String: Any]
        return (object?["config"] as? [String: Any])?["model"] as? String ?? object?["model"] as? String ?? ""
    }
}
