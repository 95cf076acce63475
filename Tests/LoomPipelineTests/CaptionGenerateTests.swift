import Foundation
import LoomImage
import LoomIngest
@testable import LoomPipeline
import LoomStore
import LoomTestSupport
import Testing

/// Shared fixtures: a store with dataset "ds" (classes goldfish and tabby cat), three photo-like
/// JPEGs, a mostly red square JPEG and a mostly blue landscape JPEG.
enum PipelineFixture {
    static func solidJPEG(width: Int, height: Int, rgb: (UInt8, UInt8, UInt8)) throws -> [UInt8] {
        var pixels = [UInt8](repeating: 0, count: width * height * 3)
        for i in 0..<(width * height) {
            // A small stripe of gray at the top, so "mostly" is measured, not trivially 100%.
            let gray = i < width * 2
            pixels[i * 3] = gray ? 128 : rgb.0
            pixels[i * 3 + 1] = gray ? 128 : rgb.1
            pixels[i * 3 + 2] = gray ? 128 : rgb.2
        }
        return try pixels.withUnsafeBytes { try JPEGEncoder().encode($0, width: width, height: height, layout: .rgb, quality: 90) }
    }

    static func makeStore() throws -> (TemporaryDirectory, Store) {
        let temp = try TemporaryDirectory()
        for i in 0..<2 {
            _ = try temp.write(FixtureImages.jpeg(width: 40, height: 32, seed: UInt64(i)), to: "data/train/n01/\(i).jpg")
        }
        _ = try temp.write(FixtureImages.jpeg(width: 40, height: 32, seed: 7), to: "data/train/n02/0.jpg")
        _ = try temp.write(try solidJPEG(width: 40, height: 40, rgb: (210, 20, 25)), to: "data/train/n01/red.jpg")
        _ = try temp.write(try solidJPEG(width: 64, height: 32, rgb: (20, 40, 200)), to: "data/train/n02/blue.jpg")
        _ = try temp.write("n01 goldfish\nn02 tabby cat\n", to: "data/LOC_synset_mapping.txt")
        let store = try Store(StoreLayout(root: temp.appending("store")), access: .readWrite)
        _ = try Ingestor(store: store, options: .init(dataset: "ds")).run(root: temp.appending("data"))
        return (temp, store)
    }
}

@Suite("loom caption with builtin:stats")
struct CaptionRunTests {
    @Test func captionsOncePerImageAndSkipsOnRerun() throws {
        let (temp, store) = try PipelineFixture.makeStore()
        defer { withExtendedLifetime(temp) {} }
        let writer = try store.makeWriter()
        let first = try CaptionRun.run(writer: writer, dataset: "ds", captioner: try Backends.captioner("builtin:stats"), batchSize: 2)
        #expect(first.captioned == 5 && first.skipped == 0 && first.failed.isEmpty, "\(first)")
        #expect(first.captioner == "loom-builtin-stats")
        let again = try CaptionRun.run(writer: writer, dataset: "ds", captioner: try Backends.captioner("builtin:stats"))
        #expect(again.captioned == 0 && again.skipped == 5 && again.failed.isEmpty)

        let rows = try store.captionDetails()
        #expect(rows.count == 5)
        let byPath = Dictionary(uniqueKeysWithValues: rows.map { ($0.path, $0.text) })
        let red = try #require(byPath["train/n01/red.jpg"])
        #expect(red.contains("mostly red square image") && red.contains("40x40"), "\(red)")
        let blue = try #require(byPath["train/n02/blue.jpg"])
        #expect(blue.contains("mostly blue landscape image"), "\(blue)")
        #expect(rows.allSatisfy { $0.captionerParams == #"{"version":"1"}"# && $0.captionerBackend == "builtin:stats" })

        // A split filter that does not exist is an error, not an empty run.
        #expect(throws: PipelineError.self) {
            try CaptionRun.run(writer: writer, dataset: "ds", split: "val", captioner: try Backends.captioner("builtin:stats"))
        }
    }

    @Test func statsCaptionsAreDeterministic() throws {
        let bytes = try PipelineFixture.solidJPEG(width: 30, height: 60, rgb: (30, 160, 40))
        let one = try StatsCaptioner().caption(bytes: bytes)
        let two = try StatsCaptioner().caption(bytes: bytes)
        #expect(one == two)
        #expect(one.contains("mostly green portrait image"), "\(one)")
        let photo = FixtureImages.jpeg(width: 96, height: 72, seed: 3)
        #expect(try StatsCaptioner().caption(bytes: photo) == StatsCaptioner().caption(bytes: photo))
        // PNG is read too.
        #expect(try StatsCaptioner().caption(bytes: FixtureImages.png(width: 20, height: 20)).contains("square"))
        #expect(throws: (any Error).self) { try StatsCaptioner().caption(bytes: FixtureImages.textFile) }
    }

    @Test func unknownBackendsSayWhatExists() {
        for spec in ["blip2", "process:python caption.py", "builtin:nope"] {
            do {
                _ = try Backends.captioner(spec)
                Issue.record("\(spec) accepted")
            } catch {
                #expect("\(error)".contains("builtin:stats"), "\(error)")
            }
        }
        do {
            _ = try Backends.generator("http://localhost:7860")
            Issue.record("http generator accepted")
        } catch {
            #expect("\(error)".contains("builtin:procedural"), "\(error)")
        }
    }
}

/// A test generator: the procedural one, except that it fails for prompts containing `failFor`,
/// and counts its calls per prompt.
final class FlakyGenerator: Generator {
    let inner: ProceduralGenerator
    let failFor: String
    var calls: [String: Int] = [:]
    var name: String { inner.name }
    var version: String { inner.version }
    var params: [String: String] { inner.params }
    var backend: String { inner.backend }

    struct Refused: Error, CustomStringConvertible { var description: String { "out of memory (test)" } }

    init(failFor: String) throws {
        inner = try ProceduralGenerator()
        self.failFor = failFor
    }

    func generate(_ batch: [GenerationRequest]) -> [Result<GeneratedImage, any Error>] {
        for request in batch { calls[request.prompt, default: 0] += 1 }
        let made = inner.generate(batch)
        return zip(batch, made).map { request, result in
            request.prompt.contains(failFor) ? .failure(Refused()) : result
        }
    }
}

@Suite("loom generate with builtin:procedural")
struct GenerateRunTests {
    static func storeWithPrompts() throws -> (TemporaryDirectory, Store, StoreWriter) {
        let (temp, store) = try PipelineFixture.makeStore()
        let writer = try store.makeWriter()
        _ = try PromptBuilder.run(writer: writer, dataset: "ds", strategy: PromptStrategy(name: "class-name"))
        return (temp, store, writer)
    }

    static func options(_ k: Int = 3) -> GenerateRun.Options {
        GenerateRun.Options(strategy: "class-name", perPrompt: k, seed: 42, steps: 20, guidance: 5, width: 32, height: 24, batchSize: 2)
    }

    @Test func makesKImagesPerPromptWithRecordedSeedsAndSkipsOnRerun() throws {
        let (temp, store, writer) = try Self.storeWithPrompts()
        defer { withExtendedLifetime(temp) {} }
        let summary = try GenerateRun.run(writer: writer, dataset: "ds", generator: try Backends.generator("builtin:procedural"), options: Self.options())
        #expect(summary.generated == 6 && summary.skipped == 0 && summary.failed.isEmpty && summary.planned == 6, "\(summary)")
        #expect(!summary.resumed)

        let rows = try store.syntheticFacts()
        #expect(rows.count == 6)
        let renderer = try ProceduralGenerator()
        for fact in rows {
            let row = fact.record.row
            let index = try #require((0..<3).first { GenerateRun.imageSeed(base: 42, promptID: row.promptID, index: $0) == row.seed })
            #expect(row.params == #"{"base_seed":"42","index":"\#(index)"}"#)
            #expect(row.steps == 20 && row.guidance == 5 && row.width == 32 && row.height == 24)
            #expect(fact.lineage.generator == "loom-builtin-procedural" && fact.lineage.generatorVersion == "1")
            #expect(fact.mediaType == "image/jpeg")
            // The stored bytes are exactly what (prompt, seed, size) renders to.
            let stored = try store.blobs.read(digest: fact.record.digest)
            #expect(stored == (try renderer.render(prompt: fact.lineage.prompt, seed: row.seed, width: 32, height: 24)))
        }
        #expect(Set(rows.map(\.record.row.seed)).count == 6)

        let again = try GenerateRun.run(writer: writer, dataset: "ds", generator: try Backends.generator("builtin:procedural"), options: Self.options())
        #expect(again.generated == 0 && again.skipped == 6 && again.failed.isEmpty)
        let (images, runs) = (try store.syntheticCount(), try store.generateRunStatuses())
        #expect(images == 6 && runs == ["finished", "finished"])

        #expect(throws: PipelineError.self) {
            var other = Self.options()
            other.strategy = "paper-caption"
            _ = try GenerateRun.run(writer: writer, dataset: "ds", generator: try Backends.generator("builtin:procedural"), options: other)
        }
    }

    @Test func renderingIsDeterministic() throws {
        let a = try ProceduralGenerator().render(prompt: "a red fish", seed: 7, width: 48, height: 32)
        let b = try ProceduralGenerator().render(prompt: "a red fish", seed: 7, width: 48, height: 32)
        #expect(a == b)
        #expect(a.starts(with: [0xFF, 0xD8, 0xFF]))
        #expect(a != (try ProceduralGenerator().render(prompt: "a red fish", seed: 8, width: 48, height: 32)))
        #expect(a != (try ProceduralGenerator().render(prompt: "a blue fish", seed: 7, width: 48, height: 32)))
        #expect(GenerateRun.imageSeed(base: 1, promptID: 2, index: 3) == GenerateRun.imageSeed(base: 1, promptID: 2, index: 3))
        #expect(GenerateRun.imageSeed(base: 1, promptID: 2, index: 3) != GenerateRun.imageSeed(base: 1, promptID: 2, index: 4))
        #expect((0..<100).allSatisfy { GenerateRun.imageSeed(base: -5, promptID: 1, index: $0) >= 0 })
    }

    @Test func failingJobsAreRetriedThenRecordedWhileOthersSucceed() throws {
        let (temp, store, writer) = try Self.storeWithPrompts()
        defer { withExtendedLifetime(temp) {} }
        let flaky = try FlakyGenerator(failFor: "tabby")
        let summary = try GenerateRun.run(writer: writer, dataset: "ds", generator: flaky, options: Self.options())
        #expect(summary.generated == 3, "\(summary)")
        #expect(summary.failed.count == 3)
        #expect(summary.failed.allSatisfy { $0.attempts == 3 && $0.error == "out of memory (test)" })
        #expect(flaky.calls["tabby cat"] == 9 && flaky.calls["goldfish"] == 3)
        let (jobs, status) = (try store.jobs(ofRun: summary.runID), try store.runStatus(summary.runID))
        #expect(jobs.count == 6 && status == "failed")
        let failed = jobs.filter { $0.state == .failed }
        #expect(failed.count == 3 && failed.allSatisfy { $0.attempts == 3 && $0.error == "out of memory (test)" })
        #expect(jobs.filter { $0.state == .done }.count == 3)
        #expect(Set(summary.failed.map { "\($0.promptID):\($0.seed)" }) == Set(failed.map(\.key)))

        // With a generator that works, a new run makes only the missing three.
        let fixed = try GenerateRun.run(writer: writer, dataset: "ds", generator: try ProceduralGenerator(), options: Self.options())
        #expect(fixed.generated == 3 && fixed.skipped == 3 && fixed.failed.isEmpty)
    }

    @Test func anInterruptedRunResumesWithTheMissingJobsOnly() throws {
        let (temp, store, writer) = try Self.storeWithPrompts()
        defer { withExtendedLifetime(temp) {} }
        var limited = Self.options()
        limited.jobLimit = 2
        let first = try GenerateRun.run(writer: writer, dataset: "ds", generator: try ProceduralGenerator(), options: limited)
        #expect(first.generated == 2 && first.planned == 6)
        let pending = (try store.runStatus(first.runID), try store.jobs(ofRun: first.runID).filter { $0.state == .pending }.count)
        #expect(pending.0 == "running" && pending.1 == 4)

        let counting = try FlakyGenerator(failFor: "no prompt has this text")
        let resumed = try GenerateRun.run(writer: writer, dataset: "ds", generator: counting, options: Self.options())
        #expect(resumed.resumed && resumed.runID == first.runID)
        #expect(resumed.generated == 4 && resumed.skipped == 2 && resumed.failed.isEmpty, "\(resumed)")
        #expect(counting.calls.values.reduce(0, +) == 4)
        let after = (try store.syntheticCount(), try store.generateRunStatuses().count,
                     try store.jobs(ofRun: first.runID).filter { $0.state == .done }.count, try store.runStatus(first.runID))
        #expect(after.0 == 6 && after.1 == 1 && after.2 == 6 && after.3 == "finished")
    }

    @Test func captionToSyntheticImageLineage() throws {
        let (temp, store) = try PipelineFixture.makeStore()
        defer { withExtendedLifetime(temp) {} }
        let writer = try store.makeWriter()
        _ = try CaptionRun.run(writer: writer, dataset: "ds", captioner: try StatsCaptioner())
        let prompts = try PromptBuilder.run(writer: writer, dataset: "ds", strategy: PromptStrategy(name: "class-caption"))
        #expect(prompts.created == 5)
        var options = Self.options(1)
        options.strategy = "class-caption"
        let summary = try GenerateRun.run(writer: writer, dataset: "ds", generator: try ProceduralGenerator(), options: options)
        #expect(summary.generated == 5)
        let lineage = try store.lineageRecords()
        #expect(lineage.count == 5)
        #expect(lineage.allSatisfy { $0.captioner == "loom-builtin-stats" && $0.generator == "loom-builtin-procedural" })
        #expect(lineage.contains { $0.realPath == "train/n01/red.jpg" && $0.caption?.contains("red") == true })
    }
}
