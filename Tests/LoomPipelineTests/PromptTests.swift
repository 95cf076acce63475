import Foundation
import LoomIngest
@testable import LoomPipeline
import LoomStore
import LoomTestSupport
import Testing

@Suite("Prompt strategies")
struct PromptStrategyTests {
    @Test(arguments: [
        ("class-name", "tench"),
        ("template", "a photo of a tench"),
        ("caption", "a man holding a large fish on a boat"),
        ("class-caption", "tench, a man holding a large fish on a boat"),
        ("paper-class", "a photo of tench"),
        ("paper-caption", "a photo of tench, a man holding a large fish on a boat"),
    ])
    func builtinTexts(_ name: String, _ expected: String) throws {
        let strategy = try PromptStrategy(name: name)
        // Model captions come with stray spaces and a full stop; prompts do not keep them.
        #expect(strategy.render(className: "tench", caption: "  a man holding  a large fish on a boat. ") == expected)
    }

    @Test func userTemplatesAndErrors() throws {
        let custom = try PromptStrategy(name: "styled", template: "{caption}, a {class}, photorealistic")
        #expect(custom.usesCaption)
        #expect(custom.render(className: "crane", caption: "a bird standing in water") == "a bird standing in water, a crane, photorealistic")
        #expect(try PromptStrategy(name: "template", template: "an image of a {class}").render(className: "tench", caption: nil) == "an image of a tench")
        #expect(throws: PipelineError.self) { try PromptStrategy(name: "no-such-strategy") }
        #expect(throws: PipelineError.self) { try PromptStrategy(name: "styled", template: "no placeholders") }
    }

    @Test func lengthRuleCountsAndCuts() {
        #expect(PromptLength.count("a photo of a tench, in a boat") == 9)
        #expect(PromptLength.count("") == 0)
        let long = (0..<100).map { "word\($0)" }.joined(separator: " ")
        let cut = PromptLength.cut(long)
        #expect(cut.truncated && cut.tokens == PromptLength.limit)
        #expect(long.hasPrefix(cut.text) && cut.text.hasSuffix("word69"))
        let short = PromptLength.cut("tench, a fish")
        #expect(!short.truncated && short.text == "tench, a fish" && short.tokens == 4)
    }
}

@Suite("Captions and prompts in the catalog")
struct CaptionPromptCatalogTests {
    /// A store with dataset "ds": 2 classes x 3 JPEGs, class names from a mapping file.
    static func makeStore() throws -> (TemporaryDirectory, Store, [String]) {
        let temp = try TemporaryDirectory()
        var paths: [String] = []
        for (c, wnid) in ["n01", "n02"].enumerated() {
            for i in 0..<3 {
                let path = "train/\(wnid)/\(i).jpg"
                _ = try temp.write(FixtureImages.jpeg(width: 48, height: 32, seed: UInt64(c * 10 + i)), to: "data/" + path)
                paths.append(path)
            }
        }
        _ = try temp.write("n01 crane, bird\nn02 crane, machine\n", to: "data/LOC_synset_mapping.txt")
        let store = try Store(StoreLayout(root: temp.appending("store")), access: .readWrite)
        _ = try Ingestor(store: store, options: .init(dataset: "ds")).run(root: temp.appending("data"))
        return (temp, store, paths)
    }

    @Test func captionImportReportsBadLinesAndIsIdempotent() throws {
        let (temp, store, paths) = try Self.makeStore()
        let digest = Digest.sha256(try [UInt8](Data(contentsOf: URL(fileURLWithPath: temp.appending("data/" + paths[4])))))
        let lines = [
            #"{"path": "\#(paths[0])", "caption": "a bird standing in a pond."}"#,
            #"{"path": "\#(paths[1])", "caption": "a white bird"}"#,
            "",
            "not json",
            #"{"path": "train/n01/missing.jpg", "caption": "x"}"#,
            #"{"digest": "\#(digest.hex)", "caption": "a yellow crane lifting steel"}"#,
            #"{"digest": "abc", "caption": "x"}"#,
            #"{"path": "\#(paths[2])"}"#,
        ]
        _ = try temp.write(lines.joined(separator: "\n"), to: "caps.jsonl")
        let writer = try store.makeWriter()
        let first = try CaptionImport.run(writer: writer, file: temp.appending("caps.jsonl"), dataset: "ds", captioner: "blip2")
        #expect(first.imported == 3 && first.unchanged == 0)
        #expect(first.failed.map(\.line) == [4, 5, 7, 8], "\(first.failed)")
        #expect(first.failed.allSatisfy { !$0.reason.isEmpty })
        let again = try CaptionImport.run(writer: writer, file: temp.appending("caps.jsonl"), dataset: "ds", captioner: "blip2")
        #expect(again.imported == 0 && again.unchanged == 3)
        let stored = try store.captionDetails().count
        #expect(stored == 3)
        #expect(throws: PipelineError.self) {
            try CaptionImport.run(writer: writer, file: temp.appending("caps.jsonl"), dataset: "nope", captioner: "blip2")
        }
    }

    @Test func promptsUseDisambiguatedNamesCaptionsAndAreIdempotent() throws {
        let (temp, store, paths) = try Self.makeStore()
        _ = try temp.write([
            #"{"path": "\#(paths[0])", "caption": "a bird standing in a pond."}"#,
            #"{"path": "\#(paths[3])", "caption": "a yellow machine on a building site"}"#,
        ].joined(separator: "\n"), to: "caps.jsonl")
        let writer = try store.makeWriter()
        _ = try CaptionImport.run(writer: writer, file: temp.appending("caps.jsonl"), dataset: "ds", captioner: "blip2")

        // Without a map both classes would read "crane": the map tells them apart.
        let names: [ExactName: String] = ["n01": "crane bird", "n02": "construction crane"]
        let classPrompts = try PromptBuilder.run(writer: writer, dataset: "ds", strategy: PromptStrategy(name: "class-name"), classNames: names)
        #expect(classPrompts.created == 2)
        let captionPrompts = try PromptBuilder.run(writer: writer, dataset: "ds", strategy: PromptStrategy(name: "class-caption"), classNames: names)
        #expect(captionPrompts.created == 2)
        let texts = try store.prompts(of: "ds").map(\.row).sorted { ($0.strategy, $0.text) < ($1.strategy, $1.text) }.map(\.text)
        #expect(texts == ["construction crane, a yellow machine on a building site", "crane bird, a bird standing in a pond",
                          "construction crane", "crane bird"])
        let rerun = try PromptBuilder.run(writer: writer, dataset: "ds", strategy: PromptStrategy(name: "class-caption"), classNames: names)
        #expect(rerun.created == 0 && rerun.existing == 2)

        // Without the map, the catalog's prompt names (first part of the mapping file) are used.
        let plain = try PromptBuilder.run(writer: writer, dataset: "ds", strategy: PromptStrategy(name: "paper-class"))
        #expect(plain.created == 2)
        let paper = try store.prompts(of: "ds").filter { $0.row.strategy == "paper-class" }.map(\.row.text).sorted()
        #expect(paper == ["a photo of crane", "a photo of crane"])
    }

    @Test func longCaptionsAreCutAndRecorded() throws {
        let (temp, store, paths) = try Self.makeStore()
        let long = (0..<90).map { "word\($0)" }.joined(separator: " ")
        _ = try temp.write(#"{"path": "\#(paths[0])", "caption": "\#(long)"}"#, to: "caps.jsonl")
        let writer = try store.makeWriter()
        _ = try CaptionImport.run(writer: writer, file: temp.appending("caps.jsonl"), dataset: "ds", captioner: "blip2")
        let summary = try PromptBuilder.run(writer: writer, dataset: "ds", strategy: PromptStrategy(name: "class-caption"))
        #expect(summary.truncated == 1)
        let row = try #require(try store.prompts(of: "ds").first).row
        #expect(row.truncated == true)
        #expect(row.tokens == PromptLength.limit)
        #expect(row.fullText == "crane, " + long)
        #expect(row.fullText?.hasPrefix(row.text) == true)
        #expect(row.tokenRule == PromptLength.rule)
    }

    @Test func captionStrategiesNeedCaptionsAndAChosenCaptioner() throws {
        let (temp, store, paths) = try Self.makeStore()
        let writer = try store.makeWriter()
        #expect(throws: PipelineError.self) {
            try PromptBuilder.run(writer: writer, dataset: "ds", strategy: PromptStrategy(name: "caption"))
        }
        _ = try temp.write(#"{"path": "\#(paths[0])", "caption": "a"}"#, to: "a.jsonl")
        _ = try CaptionImport.run(writer: writer, file: temp.appending("a.jsonl"), dataset: "ds", captioner: "one")
        _ = try CaptionImport.run(writer: writer, file: temp.appending("a.jsonl"), dataset: "ds", captioner: "two")
        #expect(throws: PipelineError.self) {
            try PromptBuilder.run(writer: writer, dataset: "ds", strategy: PromptStrategy(name: "caption"))
        }
        let chosen = try PromptBuilder.run(writer: writer, dataset: "ds", strategy: PromptStrategy(name: "caption"), captioner: "two")
        #expect(chosen.created == 1)
    }
}
