import Foundation
@testable import LoomPipeline
import LoomStore
import LoomTestSupport
import Testing

/// A procedural generator whose first batch fails (a worker that crashed once), so its jobs go
/// back to the queue and may land on another worker.
final class FirstBatchFails: Generator {
    let inner: ProceduralGenerator
    var failed = false
    var name: String { inner.name }
    var version: String { inner.version }
    var params: [String: String] { inner.params }
    var backend: String { inner.backend }

    struct Crashed: Error, CustomStringConvertible { var description: String { "worker exited (test)" } }

    init() throws { inner = try ProceduralGenerator() }

    func generate(_ batch: [GenerationRequest]) -> [Result<GeneratedImage, any Error>] {
        guard failed else {
            failed = true
            return batch.map { _ in .failure(Crashed()) }
        }
        return inner.generate(batch)
    }
}

@Suite("several workers per stage (--workers, --devices)")
struct WorkerPoolTests {
    static func images(_ store: Store) throws -> [String] {
        try store.read { try $0.synthetic.syntheticImages() }
            .sorted { ($0.row.promptID, $0.row.seed) < ($1.row.promptID, $1.row.seed) }
            .map { "\($0.digest.hex.uppercased()) \($0.row.promptID) \($0.row.seed) \($0.row.params)" }
    }

    static func options() -> GenerateRun.Options {
        GenerateRun.Options(strategy: "class-name", perPrompt: 9, seed: 4, steps: 2, guidance: 1, width: 16, height: 16, batchSize: 2)
    }

    @Test("three workers make exactly the images one worker makes, each once, and count what each did")
    func threeWorkersEqualOne() throws {
        let (tempOne, one, writerOne) = try GenerateRunTests.storeWithPrompts()
        defer { withExtendedLifetime(tempOne) {} }
        let single = try GenerateRun.run(writer: writerOne, dataset: "ds", generator: try ProceduralGenerator(), options: Self.options())
        let (tempThree, three, writerThree) = try GenerateRunTests.storeWithPrompts()
        defer { withExtendedLifetime(tempThree) {} }
        let set = WorkerSet<any Generator>(backends: try (0..<3).map { _ in try ProceduralGenerator() }, devices: ["a", "b", "c"])
        let pooled = try GenerateRun.run(writer: writerThree, dataset: "ds", generators: set, options: Self.options())
        #expect(single.generated == 18 && pooled.generated == 18 && pooled.failed.isEmpty && pooled.skipped == 0)
        #expect(try Self.images(three) == Self.images(one))
        #expect(pooled.workers?.map(\.device) == ["a", "b", "c"])
        #expect(pooled.workers?.map(\.items).reduce(0, +) == 18)
        #expect(single.workers?.count == 1 && single.workers?.first?.items == 18)
    }

    @Test("a batch a worker fails goes back to the queue and is made by whichever worker is free; nothing fails for good")
    func failedBatchesAreRetriedElsewhere() throws {
        let (tempOne, one, writerOne) = try GenerateRunTests.storeWithPrompts()
        defer { withExtendedLifetime(tempOne) {} }
        _ = try GenerateRun.run(writer: writerOne, dataset: "ds", generator: try ProceduralGenerator(), options: Self.options())
        let (temp, store, writer) = try GenerateRunTests.storeWithPrompts()
        defer { withExtendedLifetime(temp) {} }
        let set = WorkerSet<any Generator>(backends: [try FirstBatchFails(), try FirstBatchFails()], devices: [nil, nil])
        let summary = try GenerateRun.run(writer: writer, dataset: "ds", generators: set, options: Self.options())
        #expect(summary.generated == 18 && summary.failed.isEmpty, "\(summary)")
        #expect(try Self.images(store) == Self.images(one))
        // Each worker that got a batch failed its first (2 items): 18 plus 2 or 4 answered, and
        // each answered item is one attempt of its job.
        let answered = summary.workers?.map(\.items).reduce(0, +) ?? 0
        #expect(answered == 20 || answered == 22, "\(summary.workers ?? [])")
        let attempts = try store.jobs(ofRun: summary.runID).map(\.attempts)
        #expect(attempts.count == 18 && attempts.allSatisfy { $0 >= 1 && $0 <= 3 } && attempts.reduce(0, +) == answered)
    }

    @Test("captions from several workers equal one worker's")
    func captionWorkersEqualOne() throws {
        func captions(_ workers: Int) throws -> ([String], CaptionRun.Summary) {
            let (temp, store) = try PipelineFixture.makeStore()
            defer { withExtendedLifetime(temp) {} }
            let set = WorkerSet<any Captioner>(backends: try (0..<workers).map { _ in try StatsCaptioner() },
                                               devices: Array(repeating: nil, count: workers))
            let summary = try CaptionRun.run(writer: try store.makeWriter(), dataset: "ds", captioners: set, batchSize: 1)
            let texts = try store.captionDetails().sorted { $0.realImageID < $1.realImageID }.map { "\($0.realImageID) \($0.text)" }
            return (texts, summary)
        }
        let (expected, _) = try captions(1)
        let (made, summary) = try captions(3)
        #expect(made == expected && made.count == 5 && summary.captioned == 5)
        #expect(summary.workers?.count == 3 && summary.workers?.map(\.items).reduce(0, +) == 5)
    }

    @Test("--devices and --workers parse into one entry per worker; cuda:N becomes CUDA_VISIBLE_DEVICES=N and {device} cuda:0")
    func fanoutParsesAndPlaces() throws {
        #expect(try Fanout(workers: nil, devices: nil) == .single)
        #expect(try Fanout(workers: 3, devices: nil).devices == [nil, nil, nil])
        #expect(try Fanout(workers: nil, devices: "cuda:0, cuda:3").devices == ["cuda:0", "cuda:3"])
        #expect(try Fanout(workers: 2, devices: "cuda:0,cuda:1").count == 2)
        #expect(throws: PipelineError.self) { try Fanout(workers: 3, devices: "cuda:0,cuda:1") }
        #expect(throws: PipelineError.self) { try Fanout(workers: 0, devices: nil) }
        #expect(throws: PipelineError.self) { try Fanout(workers: nil, devices: "cuda:0,,cuda:1") }

        let gpu = Fanout.placement(of: "cuda:3", in: "python3 w.py --device {device}")
        #expect(gpu.command == "python3 w.py --device cuda:0")
        #expect(gpu.environment == ["CUDA_VISIBLE_DEVICES": "3", "LOOM_WORKER_DEVICE": "cuda:3"])
        let cpu = Fanout.placement(of: "cpu", in: "python3 w.py --device {device}")
        #expect(cpu.command == "python3 w.py --device cpu" && cpu.environment["CUDA_VISIBLE_DEVICES"] == nil)
        let none = Fanout.placement(of: nil, in: "python3 w.py --device {device}")
        #expect(none.command == "python3 w.py --device {device}" && none.environment.isEmpty)
    }

    @Test("builtin: backends refuse more than one worker; http: takes workers but no devices")
    func backendsCheckTheirFanout() throws {
        #expect(throws: PipelineError.self) { try Backends.generators("builtin:procedural", fanout: try Fanout(workers: 2, devices: nil)) }
        #expect(throws: PipelineError.self) { try Backends.captioners("builtin:stats", fanout: try Fanout(workers: nil, devices: "cuda:0")) }
        #expect(throws: PipelineError.self) {
            try Backends.generators("http:http://127.0.0.1:9", fanout: try Fanout(workers: nil, devices: "cuda:0,cuda:1"))
        }
        let clients = try Backends.generators("http:http://127.0.0.1:9", fanout: try Fanout(workers: 2, devices: nil))
        #expect(clients.backends.count == 2)
        #expect(try Backends.generators("builtin:procedural", fanout: .single).backends.count == 1)
    }
}
