import LoomStore

/// A run's state after an epoch: model weights and buffers, optimizer momentum, and where the
/// loader and schedule stand. Stored as one blob (a ``TensorArchive``) with a `checkpoints` row.
struct TrainCheckpoint {
    var epoch: Int
    var step: Int
    var cursor: String
    var identity: String
    var model: [String: Tensor]
    var optimizer: [String: Tensor]

    static let mediaType = "application/x-loom-checkpoint"
    static let kind = "loom-train-checkpoint-1"

    func encoded() -> [UInt8] {
        var tensors: [String: Tensor] = [:]
        for (name, tensor) in model { tensors["model." + name] = tensor }
        for (name, tensor) in optimizer { tensors["optimizer." + name] = tensor }
        return TensorArchive(tensors: tensors, metadata: [
            "kind": Self.kind, "epoch": "\(epoch)", "step": "\(step)", "cursor": cursor, "identity": identity,
        ]).encoded()
    }

    init(epoch: Int, step: Int, cursor: String, identity: String, model: [String: Tensor], optimizer: [String: Tensor]) {
        self.epoch = epoch
        self.step = step
        self.cursor = cursor
        self.identity = identity
        self.model = model
        self.optimizer = optimizer
    }

    init(decoding bytes: [UInt8], digest: Digest) throws {
        let archive = try TensorArchive(decoding: bytes)
        guard archive.metadata["kind"] == Self.kind, let epoch = archive.metadata["epoch"].flatMap({ Int($0) }),
              let step = archive.metadata["step"].flatMap({ Int($0) }), let cursor = archive.metadata["cursor"],
              let identity = archive.metadata["identity"] else {
            throw TrainError(.corrupt, "checkpoint \(digest.hex) is not a loom training checkpoint (kind \(archive.metadata["kind"] ?? "missing"))")
        }
        self.epoch = epoch
        self.step = step
        self.cursor = cursor
        self.identity = identity
        model = [:]
        optimizer = [:]
        for (name, tensor) in archive.tensors {
            if name.hasPrefix("model.") { model[String(name.dropFirst(6))] = tensor }
            else if name.hasPrefix("optimizer.") { optimizer[String(name.dropFirst(10))] = tensor }
        }
    }

    /// The newest checkpoint of a run, read and checked from the store.
    static func latest(runID: Int64, store: Store) throws -> TrainCheckpoint? {
        guard let (_, digest, bytes) = try TrainRecorder.latestCheckpoint(runID: runID, store: store) else { return nil }
        return try TrainCheckpoint(decoding: bytes, digest: digest)
    }
}
