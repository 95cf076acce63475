import Foundation
import LoomStore
import LoomTar

/// A run's state after an epoch: model weights and buffers, optimizer momentum, and where the
/// loader and schedule stand. Stored as one blob with a `checkpoints` row: a ustar archive laid
/// out as the torch trainer's (docs/checkpoint-format.md), so the weights are a safetensors file
/// any tool reads:
/// - `model.safetensors`: the model's tensors, under torchvision's names for resnet18 and
///   resnet50, `num_batches_tracked` as int64;
/// - `optimizer.loomt`: the SGD momentum buffers, a ``TensorArchive``;
/// - `loom.json`: kind, epoch, step, loader cursor, run identity and model.
///
/// Checkpoints written before this layout (one ``TensorArchive`` holding `model.` and
/// `optimizer.` tensors) still load.
struct TrainCheckpoint {
    var epoch: Int
    var step: Int
    var cursor: String
    var identity: String
    /// The model's tensors under Loom's names (`stageN`).
    var model: [String: Tensor]
    var optimizer: [String: Tensor]
    /// The config's `model` ("resnet18", ...), which decides the names stored.
    var modelName: String

    static let mediaType = "application/x-loom-checkpoint+tar"
    static let kind = "loom-train-checkpoint-2"
    static let archiveKind = "loom-train-checkpoint-1"

    init(epoch: Int, step: Int, cursor: String, identity: String, model: [String: Tensor], optimizer: [String: Tensor], modelName: String) {
        self.epoch = epoch
        self.step = step
        self.cursor = cursor
        self.identity = identity
        self.model = model
        self.optimizer = optimizer
        self.modelName = modelName
    }

    /// The model as safetensors, as stored and as `loom checkpoint export` hands it out.
    func modelSafeTensors() throws -> [UInt8] {
        let torchvision = TorchvisionNames.apply(to: modelName)
        var tensors: [String: Tensor] = [:]
        for (name, tensor) in model { tensors[torchvision ? TorchvisionNames.torchvision(name) : name] = tensor }
        return try SafeTensors.encode(tensors, int64: Set(tensors.keys.filter { $0.hasSuffix(".num_batches_tracked") }),
                                      metadata: ["format": "pt", "kind": Self.kind, "model": modelName, "epoch": "\(epoch)"])
    }

    func encoded() throws -> [UInt8] {
        let meta: [String: Any] = ["kind": Self.kind, "epoch": epoch, "step": step, "cursor": cursor, "identity": identity, "model": modelName]
        var tar = TarArchive()
        try tar.append(name: "loom.json", contents: Array(try JSONSerialization.data(withJSONObject: meta, options: [.sortedKeys])))
        try tar.append(name: "model.safetensors", contents: try modelSafeTensors())
        try tar.append(name: "optimizer.loomt", contents: TensorArchive(tensors: optimizer).encoded())
        return tar.finished()
    }

    init(decoding bytes: [UInt8], digest: Digest) throws {
        if bytes.starts(with: TensorArchive.magic) {
            try self.init(archive: bytes, digest: digest)
            return
        }
        let what = "checkpoint \(digest.hex)"
        let members = try TarReader.members(of: bytes, name: what)
        guard let metaBytes = members["loom.json"],
              let meta = try? JSONSerialization.jsonObject(with: Data(metaBytes)) as? [String: Any] else {
            throw TrainError(.corrupt, "\(what) is not a loom training checkpoint (no readable loom.json)")
        }
        guard meta["kind"] as? String == Self.kind, let epoch = meta["epoch"] as? Int, let step = meta["step"] as? Int,
              let cursor = meta["cursor"] as? String, let identity = meta["identity"] as? String,
              let modelName = meta["model"] as? String else {
            throw TrainError(.corrupt, "\(what) is not a Swift trainer's checkpoint (kind \(meta["kind"] as? String ?? "missing"))")
        }
        guard let weights = members["model.safetensors"], let momentum = members["optimizer.loomt"] else {
            throw TrainError(.corrupt, "\(what) lacks model.safetensors or optimizer.loomt")
        }
        let torchvision = TorchvisionNames.apply(to: modelName)
        var model: [String: Tensor] = [:]
        for (name, tensor) in try SafeTensors.decode(weights, name: "\(what)'s model.safetensors").tensors {
            model[torchvision ? TorchvisionNames.loom(name) : name] = tensor
        }
        self.init(epoch: epoch, step: step, cursor: cursor, identity: identity, model: model,
                  optimizer: try TensorArchive(decoding: momentum).tensors, modelName: modelName)
    }

    /// A checkpoint in the first layout: one tensor archive.
    private init(archive bytes: [UInt8], digest: Digest) throws {
        let archive = try TensorArchive(decoding: bytes)
        guard archive.metadata["kind"] == Self.archiveKind, let epoch = archive.metadata["epoch"].flatMap({ Int($0) }),
              let step = archive.metadata["step"].flatMap({ Int($0) }), let cursor = archive.metadata["cursor"],
              let identity = archive.metadata["identity"] else {
            throw TrainError(.corrupt, "checkpoint \(digest.hex) is not a loom training checkpoint (kind \(archive.metadata["kind"] ?? "missing"))")
        }
        var model: [String: Tensor] = [:], optimizer: [String: Tensor] = [:]
        for (name, tensor) in archive.tensors {
            if name.hasPrefix("model.") { model[String(name.dropFirst(6))] = tensor }
            else if name.hasPrefix("optimizer.") { optimizer[String(name.dropFirst(10))] = tensor }
        }
        self.init(epoch: epoch, step: step, cursor: cursor, identity: identity, model: model, optimizer: optimizer,
                  modelName: Self.modelName(identity))
    }

    /// The model a run identity names (its config's `model`), for checkpoints that did not record it.
    static func modelName(_ identity: String) -> String {
        let object = (try? JSONSerialization.jsonObject(with: Data(identity.utf8))) as? [String: Any]
        return (object?["config"] as? [String: Any])?["model"] as? String ?? object?["model"] as? String ?? ""
    }

    /// The newest checkpoint of a run, read and checked from the store.
    static func latest(runID: Int64, store: Store) throws -> TrainCheckpoint? {
        guard let (_, digest, bytes) = try TrainRecorder.latestCheckpoint(runID: runID, store: store) else { return nil }
        return try TrainCheckpoint(decoding: bytes, digest: digest)
    }
}
