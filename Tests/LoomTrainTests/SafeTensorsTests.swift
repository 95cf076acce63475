import Foundation
import LoomStore
import LoomTar
@testable import LoomTrain
import Testing

@Suite struct SafeTensorsTests {
    static let tensors: [String: Tensor] = [
        "stage1.0.conv1.weight": Tensor(shape: [2, 1, 1, 3], data: [1, -0.0, .infinity, -.infinity, .leastNonzeroMagnitude, 3.25]),
        "bn1.num_batches_tracked": Tensor(shape: [], data: [42]),
        "fc.bias": Tensor(shape: [3], data: [0.5, -1.5, 2]),
    ]

    @Test("safetensors: what encode writes, decode reads back bit for bit, counters as int64, metadata kept")
    func roundTrip() throws {
        let bytes = try SafeTensors.encode(Self.tensors, int64: ["bn1.num_batches_tracked"], metadata: ["model": "resnet18"])
        #expect(try SafeTensors.encode(Self.tensors, int64: ["bn1.num_batches_tracked"], metadata: ["model": "resnet18"]) == bytes,
                "equal state, equal bytes")
        let headerLength = Int(bytes[0..<8].reversed().reduce(UInt64(0)) { $0 << 8 | UInt64($1) })
        #expect((8 + headerLength) % 8 == 0, "the data starts aligned")
        let header = try #require(try JSONSerialization.jsonObject(with: Data(bytes[8..<(8 + headerLength)])) as? [String: Any])
        #expect((header["bn1.num_batches_tracked"] as? [String: Any])?["dtype"] as? String == "I64")
        let (decoded, metadata) = try SafeTensors.decode(bytes, name: "t")
        #expect(metadata == ["model": "resnet18"])
        #expect(decoded.keys.sorted() == Self.tensors.keys.sorted())
        for (name, tensor) in Self.tensors {
            #expect(decoded[name]?.shape == tensor.shape, "\(name)")
            #expect(decoded[name]?.data.map(\.bitPattern) == tensor.data.map(\.bitPattern), "\(name)")
        }
    }

    @Test("safetensors: a cut, padded or mislabelled file is refused with its name and the reason")
    func damagedFilesAreRefused() throws {
        let bytes = try SafeTensors.encode(Self.tensors)
        func reason(_ damaged: [UInt8]) -> String? {
            do { _ = try SafeTensors.decode(damaged, name: "weights.safetensors"); return nil } catch { return "\(error)" }
        }
        let cut = reason(Array(bytes.dropLast(4)))
        #expect(cut?.contains("weights.safetensors") == true && cut?.contains("stage1.0.conv1.weight") == true, "\(cut ?? "accepted")")
        #expect(reason(bytes + [0, 0, 0, 0])?.contains("cover") == true, "bytes no tensor claims")
        #expect(reason(Array(bytes.prefix(5)))?.contains("shorter") == true)
        var huge = bytes
        huge.replaceSubrange(0..<8, with: [0xFF, 0xFF, 0, 0, 0, 0, 0, 0])
        #expect(reason(huge)?.contains("header") == true)
        var mislabelled = bytes
        let f32 = Array(#""F32""#.utf8)
        let at = try #require((0...(bytes.count - f32.count)).first { Array(bytes[$0..<($0 + f32.count)]) == f32 })
        mislabelled.replaceSubrange(at..<(at + f32.count), with: Array(#""U8" "#.utf8))
        #expect(reason(mislabelled)?.contains("dtype U8") == true)
    }

    /// A small resnet18-like state: a stage tensor, a counter, the classifier.
    static func checkpoint(model: String) -> TrainCheckpoint {
        TrainCheckpoint(epoch: 3, step: 120, cursor: "cursor-token", identity: #"{"config":{"model":"\#(model)"}}"#,
                        model: ["stage2.0.downsample.0.weight": Tensor(shape: [1, 2], data: [0.25, -4]),
                                "bn1.num_batches_tracked": Tensor(shape: [], data: [120]), "fc.weight": Tensor(shape: [1], data: [7])],
                        optimizer: ["fc.weight.momentum_buffer": Tensor(shape: [1], data: [0.125])], modelName: model)
    }

    @Test("training checkpoints: a tar of loom.json, model.safetensors under torchvision's names and optimizer.loomt, read back whole")
    func checkpointLayout() throws {
        let checkpoint = Self.checkpoint(model: "resnet18")
        let bytes = try checkpoint.encoded()
        #expect(try checkpoint.encoded() == bytes, "deterministic")
        let members = try TarReader.members(of: bytes, name: "checkpoint")
        #expect(members.keys.sorted() == ["loom.json", "model.safetensors", "optimizer.loomt"])
        let weights = try SafeTensors.decode(try #require(members["model.safetensors"]), name: "model").tensors
        #expect(weights.keys.sorted() == ["bn1.num_batches_tracked", "fc.weight", "layer2.0.downsample.0.weight"], "torchvision's names")

        let read = try TrainCheckpoint(decoding: bytes, digest: Digest.sha256(bytes))
        #expect(read.epoch == 3 && read.step == 120 && read.cursor == "cursor-token" && read.modelName == "resnet18")
        #expect(read.model.keys.sorted() == checkpoint.model.keys.sorted(), "Loom's names again")
        #expect(read.model["stage2.0.downsample.0.weight"]?.data == [0.25, -4] && read.model["bn1.num_batches_tracked"]?.data == [120])
        #expect(read.optimizer["fc.weight.momentum_buffer"]?.data == [0.125])

        let small = try TarReader.members(of: try Self.checkpoint(model: "resnet-small").encoded(), name: "checkpoint")
        #expect(try SafeTensors.decode(try #require(small["model.safetensors"]), name: "model").tensors["stage2.0.downsample.0.weight"] != nil,
                "resnet-small keeps Loom's names")
    }

    @Test("training checkpoints of the first layout (one tensor archive) still load, for resume and export")
    func firstLayoutStillLoads() throws {
        let old = Self.checkpoint(model: "resnet18")
        var tensors: [String: Tensor] = [:]
        for (name, tensor) in old.model { tensors["model." + name] = tensor }
        for (name, tensor) in old.optimizer { tensors["optimizer." + name] = tensor }
        let bytes = TensorArchive(tensors: tensors, metadata: [
            "kind": TrainCheckpoint.archiveKind, "epoch": "3", "step": "120", "cursor": "cursor-token", "identity": old.identity,
        ]).encoded()
        let read = try TrainCheckpoint(decoding: bytes, digest: Digest.sha256(bytes))
        #expect(read.modelName == "resnet18" && read.epoch == 3 && read.model.keys.sorted() == old.model.keys.sorted())
        let weights = try SafeTensors.decode(try read.modelSafeTensors(), name: "model").tensors
        #expect(weights["layer2.0.downsample.0.weight"]?.data == [0.25, -4])
    }
}
