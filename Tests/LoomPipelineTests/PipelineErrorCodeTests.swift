import LoomIngest
@testable import LoomPipeline
import LoomStore
import LoomTestSupport
import Testing

/// The code a `PipelineError` carries is what the service turns into an HTTP status and what
/// callers decide by, so each kind of failure must say its own.
@Suite("pipeline error codes")
struct PipelineErrorCodeTests {
    /// The code of the `PipelineError` `body` throws; nil when it throws nothing or something else.
    func pipelineCode(_ body: () throws -> Void) -> LoomErrorCode? {
        do {
            try body()
            return nil
        } catch let error as PipelineError {
            return error.errorCode
        } catch {
            return nil
        }
    }

    @Test func missingDatasetsSplitsAndCaptionsAreNotFound() throws {
        let (temp, store) = try PipelineFixture.makeStore()
        defer { withExtendedLifetime(temp) {} }
        let writer = try store.makeWriter()
        let stats = try Backends.captioner("builtin:stats")
        #expect(pipelineCode { _ = try CaptionRun.run(writer: writer, dataset: "nope", captioner: stats) } == .notFound)
        #expect(pipelineCode { _ = try CaptionRun.run(writer: writer, dataset: "ds", split: "val", captioner: stats) } == .notFound)
        #expect(pipelineCode { _ = try PromptBuilder.run(writer: writer, dataset: "nope", strategy: PromptStrategy(name: "class-name")) } == .notFound)
        #expect(pipelineCode { _ = try PromptBuilder.run(writer: writer, dataset: "ds", strategy: PromptStrategy(name: "class-caption")) } == .notFound,
                "no captions yet")
        let options = GenerateRun.Options(strategy: "class-name", perPrompt: 1, seed: 1, width: 32, height: 32)
        let procedural = try Backends.generator("builtin:procedural")
        #expect(pipelineCode { _ = try GenerateRun.run(writer: writer, dataset: "nope", generator: procedural, options: options) } == .notFound)
        #expect(pipelineCode { _ = try GenerateRun.run(writer: writer, dataset: "ds", generator: procedural, options: options) } == .notFound,
                "no prompts of the strategy")
        #expect(pipelineCode { _ = try CaptionImport.run(writer: writer, file: temp.appending("none.jsonl"), dataset: "ds", captioner: "x") } == .notFound)
    }

    @Test func badOptionsAndSpecsAreInvalidInput() throws {
        let (temp, store) = try PipelineFixture.makeStore()
        defer { withExtendedLifetime(temp) {} }
        let writer = try store.makeWriter()
        var options = GenerateRun.Options(strategy: "class-name", perPrompt: 0, seed: 1)
        #expect(pipelineCode { _ = try GenerateRun.run(writer: writer, dataset: "ds", generator: try ProceduralGenerator(), options: options) } == .invalidInput)
        options.perPrompt = 1
        options.steps = 0
        #expect(pipelineCode { _ = try GenerateRun.run(writer: writer, dataset: "ds", generator: try ProceduralGenerator(), options: options) } == .invalidInput)
        #expect(pipelineCode { _ = try Backends.captioner("nonsense:x") } == .invalidInput)
        #expect(pipelineCode { _ = try PromptStrategy(name: "no-such-strategy") } == .invalidInput)
        _ = try temp.write(#"{"path": "train/n01/0.jpg", "caption": "x"}"#, to: "caps.jsonl")
        #expect(pipelineCode { _ = try CaptionImport.run(writer: writer, file: temp.appending("caps.jsonl"), dataset: "ds", captioner: "") } == .invalidInput)
        // Captions from two captioners and none chosen.
        _ = try CaptionImport.run(writer: writer, file: temp.appending("caps.jsonl"), dataset: "ds", captioner: "a")
        _ = try CaptionImport.run(writer: writer, file: temp.appending("caps.jsonl"), dataset: "ds", captioner: "b")
        #expect(pipelineCode { _ = try PromptBuilder.run(writer: writer, dataset: "ds", strategy: PromptStrategy(name: "class-caption")) } == .invalidInput)
        #expect(pipelineCode { _ = try PromptBuilder.run(writer: writer, dataset: "ds", strategy: PromptStrategy(name: "class-caption"),
                                                          captioner: "c") } == .notFound)
    }

    @Test func aWorkerThatDoesNotStartIsUnavailableAndOneThatSpeaksAnotherProtocolIsInvalidInput() throws {
        let temp = try TemporaryDirectory()
        #expect(pipelineCode { _ = try Backends.captioner("process:" + (try StandInWorker.command(temp, mode: "exit"))) } == .unavailable)
        #expect(pipelineCode { _ = try Backends.captioner("process:" + (try StandInWorker.command(temp, mode: "protocol"))) } == .invalidInput)
    }

    @Test func aBlobThatIsNoImageIsNotFound() throws {
        let f = try LineageTests.makeFixture()
        #expect(pipelineCode { _ = try Lineage.lookup(f.store, f.orphan.hex) } == .notFound)
    }
}
