import Foundation
import LoomExperiment
import LoomPipeline
import LoomStore
import LoomTestSupport
import LoomTrain
import Testing

/// Training and experiments keep their run rows through the run ledger, and say by code what
/// kind of failure stopped them.
@Suite("Training and experiment runs: ledger rows and error codes", .serialized)
struct TrainRunLedgerTests {
    static func code(_ body: () throws -> Void) -> LoomErrorCode? {
        do {
            try body()
            return nil
        } catch let error as any CodedError {
            return error.errorCode
        } catch {
            return nil
        }
    }

    @Test func aFailedTrainingIsRecordedWithItsErrorAndResumes() throws {
        let data = try ColorDataset(train: 16, val: 4, side: 16)
        let writer = try data.store.makeWriter()
        var config = TrainRunTests.config(epochs: 2, eval: nil)
        config.learningRate = 1e38  // the weights overflow within the run's first steps, after its row exists
        #expect(Self.code { _ = try TrainRun.run(writer: writer, config: config, options: .init(threads: 1)) } == .invalidInput)
        let failed = try #require(try data.store.read { try $0.runs.runs(RunFilter(stage: .train), offset: 0, limit: 1) }.first)
        #expect(failed.status.rawValue == "failed" && failed.finishedAt == nil)
        let summary = try JSONSerialization.jsonObject(with: Data(try #require(failed.summary).utf8)) as? [String: String]
        #expect(summary?["error"]?.contains("the loss diverged") == true, "\(String(describing: summary))")

        // The same identity with --resume continues the failed row (as the ledger's `resume`).
        let resumed = try TrainRun.run(writer: writer, config: config, options: .init(threads: 1, resume: true, stopAfterEpochs: 0))
        #expect(resumed.runID == failed.id)
        #expect(try data.store.read { try $0.runs.run(id: failed.id)?.status } == .running)
    }

    @Test func errorsSayWhoseFaultTheyAre() throws {
        let data = try ColorDataset(train: 4, val: 2, side: 16)
        let writer = try data.store.makeWriter()
        var missing = ExperimentRunTests.config(baseline: false)
        missing.dataset = "nope"
        #expect(Self.code {
            _ = try ExperimentRun.run(writer: writer, config: missing, options: .init(threads: 1, reportsDirectory: data.temp.appending("r")))
        } == .notFound)
        #expect(Self.code { _ = try TrainRun.run(writer: writer, config: TrainRunTests.config(epochs: 1), options: .init(threads: 1)) }
                == .invalidInput, "fewer images than one batch")
        #expect(Self.code { _ = try TensorArchive(decoding: Array("LOOMTENS".utf8)) } == .corrupt, "truncated")
        #expect(Self.code { _ = try TensorArchive(decoding: Array("not an archive, no".utf8)) } == .invalidInput)

        _ = try CaptionRun.run(writer: writer, dataset: "ds", captioner: try Backends.captioner("builtin:stats"))
        _ = try PromptBuilder.run(writer: writer, dataset: "ds", strategy: PromptStrategy(name: "class-caption"))
        var leaking = ExperimentRunTests.config(baseline: false)
        leaking.strategies = ["class-caption"]
        #expect(Self.code {
            _ = try ExperimentRun.run(writer: writer, config: leaking, options: .init(threads: 1, reportsDirectory: data.temp.appending("r")))
        } == .conflict, "prompts from validation captions")
        let experiment = try #require(try data.store.read { try $0.runs.runs(RunFilter(stage: .experiment), offset: 0, limit: 1) }.first)
        #expect(experiment.status.rawValue == "failed" && experiment.summary?.contains("leak") == true)
    }
}
