import Foundation
import LoomLoader
import LoomStore
import LoomTar
import LoomTestSupport
import LoomTrain
import Testing

@Suite("Training runs on the store", .serialized)
struct TrainRunTests {
    static func config(epochs: Int, eval: String? = "ds:val") -> TrainConfig {
        TrainConfig(train: "ds:train", eval: eval, epochs: epochs, size: 16, batch: 16, seed: 7, learningRate: 0.05,
                    warmupEpochs: 0.5)
    }

    @Test func learnsASeparableRealTaskAndRecordsEverything() throws {
        let data = try ColorDataset()
        let writer = try data.store.makeWriter()
        var lines: [EpochMetrics] = []
        let summary = try TrainRun.run(writer: writer, config: Self.config(epochs: 3), options: .init(threads: 2),
                                       onEpoch: { lines.append($0) })
        #expect(lines.map(\.epoch) == [1, 2, 3])
        #expect((summary.evalTop1 ?? 0) >= 0.9, "eval top-1 \(String(describing: summary.evalTop1))")
        #expect(summary.evalTop5 == 1, "two classes: top-5 is always right")
        #expect(lines.first!.loss > lines.last!.loss, "\(lines.map(\.loss))")
        #expect(summary.trainImages == 80 && summary.evalImages == 24)
        #expect(summary.perClass.map(\.total) == [12, 12])
        #expect(summary.perClass.reduce(0) { $0 + $1.correct } == Int(((summary.evalTop1 ?? 0) * 24).rounded()))

        try data.store.read { catalog in
            let run = try catalog.runs.requireRun(id: summary.runID)
            #expect(run.stage.rawValue == "train" && run.status.rawValue == "finished")
            #expect(run.config.contains(#""train":"ds:train""#))
            let epochs = try catalog.training.epochs(of: summary.runID)
            #expect(epochs.map(\.epoch) == [1, 2, 3])
            #expect(epochs.last!.evalTop1 == summary.evalTop1!)
            let checkpoints = try catalog.training.checkpoints(of: summary.runID)
            #expect(checkpoints.count == 2, "keeps the newest two")
            #expect(checkpoints.map(\.epoch).max() == 3)
            // The run's inputs are exactly the training split's blobs.
            let used = try catalog.training.samples(of: summary.runID).map(\.blobID)
            var train: [Int64] = []
            try catalog.datasets.forEachRealImage(RealImageFilter(split: "train")) { image in
                let digest = try #require(Digest(hex: image.digest))
                train.append(try #require(try catalog.blobs.blob(digest)).id)
            }
            #expect(used == train.sorted())
            #expect(try catalog.training.evalClasses(of: summary.runID).reduce(0) { $0 + $1.total } == 24)
        }
        // The checkpoint is a verified blob in the store; gc keeps it.
        let bytes = try data.store.blobs.read(digest: Digest(hex: summary.checkpoint!)!)
        let meta = try Self.checkpointMeta(bytes)
        #expect(meta["epoch"] as? Int == 3 && meta["cursor"] as? String == "loom1.7.3.0.0.1")
    }

    /// A checkpoint blob's loom.json (docs/checkpoint-format.md).
    static func checkpointMeta(_ bytes: [UInt8]) throws -> [String: Any] {
        let json = try #require(try TarReader.members(of: bytes, name: "checkpoint")["loom.json"])
        return try #require(try JSONSerialization.jsonObject(with: Data(json)) as? [String: Any])
    }

    @Test func resumedRunEndsWithTheSameWeightsAsAnUninterruptedOne() throws {
        let data = try ColorDataset(train: 24, val: 4, side: 16)
        let writer = try data.store.makeWriter()
        let straight = try TrainRun.run(writer: writer, config: Self.config(epochs: 3, eval: nil), options: .init(threads: 2))

        let first = try TrainRun.run(writer: writer, config: Self.config(epochs: 3, eval: nil),
                                     options: .init(threads: 2, stopAfterEpochs: 1))
        #expect(first.epochs == 1 && first.runID != straight.runID)
        let status = try data.store.read { try $0.runs.run(id: first.runID)?.status.rawValue }
        #expect(status == "running", "an interrupted run stays resumable")

        let resumed = try TrainRun.run(writer: writer, config: Self.config(epochs: 3, eval: nil), options: .init(threads: 2, resume: true))
        #expect(resumed.runID == first.runID && resumed.resumedFromEpoch == 1 && resumed.epochs == 3)
        // Same config, same samples, same arithmetic: the final checkpoints are the same bytes.
        #expect(resumed.checkpoint != nil && resumed.checkpoint == straight.checkpoint)
    }

    @Test func reuseReturnsTheFinishedRunAndNewImagesMakeANewOne() throws {
        let data = try ColorDataset(train: 16, val: 4, side: 16)
        let writer = try data.store.makeWriter()
        let config = Self.config(epochs: 1)
        let trained = try TrainRun.run(writer: writer, config: config, options: .init(threads: 1))
        let reused = try TrainRun.run(writer: writer, config: config, options: .init(threads: 1, reuse: true))
        #expect(reused.reused && reused.runID == trained.runID && reused.evalTop1 == trained.evalTop1)

        var other = config
        other.learningRate = 0.01
        let changed = try TrainRun.run(writer: writer, config: other, options: .init(threads: 1, reuse: true))
        #expect(!changed.reused && changed.runID != trained.runID)
    }

    @Test func refusesSettingsAndSelectionsThatCannotTrain() throws {
        let data = try ColorDataset(train: 4, val: 2, side: 16)
        let writer = try data.store.makeWriter()
        func message(_ config: TrainConfig) -> String {
            do {
                _ = try TrainRun.run(writer: writer, config: config, options: .init(threads: 1))
                return "no error"
            } catch {
                return "\(error)"
            }
        }
        var config = Self.config(epochs: 1)
        #expect(message(config).contains("fewer than one batch"))
        config.batch = 1
        #expect(message(config).contains("--batch"))
        config = Self.config(epochs: 1)
        config.model = "vgg"
        #expect(message(config).contains("unknown model \"vgg\""))
        config = Self.config(epochs: 1)
        config.train = "ds:synthetic:class-name"
        #expect(message(config).contains("no images"))
        config = Self.config(epochs: 1)
        config.eval = "ds:test"
        #expect(message(config).contains("no split \"test\""))
    }
}

@Suite("Training runs and store maintenance")
struct TrainRunMaintenanceTests {
    /// Removing the dataset a run trained on, then gc: the images go, the run's sample list with
    /// them; its checkpoints stay (they are data of their own) and the store verifies clean.
    @Test func removingTheTrainedDatasetThenGCKeepsCheckpointsAndVerifies() throws {
        let data = try ColorDataset(train: 8, val: 2, side: 16)
        let writer = try data.store.makeWriter()
        let summary = try TrainRun.run(writer: writer, config: TrainRunTests.config(epochs: 1, eval: nil), options: .init(threads: 1))
        _ = try writer.transaction { try $0.datasets.delete(dataset: "ds", split: nil) }
        let report = try GarbageCollector.run(writer)
        #expect(report.deletedBlobs == 20, "\(report)")
        try data.store.read { catalog throws in
            #expect(try catalog.training.samples(of: summary.runID).isEmpty, "the only run's sample list")
            #expect(try catalog.training.checkpoints(of: summary.runID).count == 1)
        }
        let checkpoint = try data.store.blobs.read(digest: Digest(hex: summary.checkpoint!)!)
        #expect(try TrainRunTests.checkpointMeta(checkpoint)["epoch"] as? Int == 1)
        #expect(try Verifier.run(data.store).ok)
    }
}
