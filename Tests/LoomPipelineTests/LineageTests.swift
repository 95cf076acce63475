import Foundation
import LoomIngest
@testable import LoomPipeline
import LoomStore
import LoomTestSupport
import Testing

@Suite("Lineage")
struct LineageTests {
    /// A store with dataset "ds" (2 classes x 3 JPEGs), captions on three images, class-caption and
    /// class-name prompts, and synthetic images (staged PNG bytes) rows inserted directly.
    struct Fixture {
        var temp: TemporaryDirectory
        var store: Store
        var writer: StoreWriter
        /// Digests of the real images, in the order of `paths`.
        var real: [Digest]
        var paths: [String]
        /// Synthetic digests: two from image 0's caption, one from image 3's, one from the class-name prompt of n01.
        var fromCaption0: [Digest]
        var fromCaption3: Digest
        var fromClassName: Digest
        /// A committed blob that no image row points at.
        var orphan: Digest
    }

    static func makeFixture() throws -> Fixture {
        let (temp, store, paths) = try CaptionPromptCatalogTests.makeStore()
        let real = try paths.map { Digest.sha256(try [UInt8](Data(contentsOf: URL(fileURLWithPath: temp.appending("data/" + $0))))) }
        _ = try temp.write([
            #"{"path": "\#(paths[0])", "caption": "a bird standing in 100% clear water"}"#,
            #"{"path": "\#(paths[1])", "caption": "a white BIRD in flight"}"#,
            #"{"path": "\#(paths[3])", "caption": "a yellow_machine on a building site"}"#,
        ].joined(separator: "\n"), to: "caps.jsonl")
        let writer = try store.makeWriter()
        _ = try CaptionImport.run(writer: writer, file: temp.appending("caps.jsonl"), dataset: "ds", captioner: "blip2")
        _ = try PromptBuilder.run(writer: writer, dataset: "ds", strategy: PromptStrategy(name: "class-caption"))
        _ = try PromptBuilder.run(writer: writer, dataset: "ds", strategy: PromptStrategy(name: "class-name"))

        var synthetic: [Digest] = []
        for seed in 0..<5 {
            let bytes = FixtureImages.png(width: 16, height: 16, seed: UInt64(100 + seed))
            let digest = Digest.sha256(bytes)
            _ = try bytes.withUnsafeBytes { try writer.stage($0, digest: digest, mediaType: "image/png") }
            synthetic.append(digest)
        }
        try writer.transaction { tx in
            let generator = try tx.synthetic.ensureGenerator(name: "sd-turbo", version: "2.1", params: "{}", backend: "builtin:test")
            let datasetID = try tx.datasets.requireDataset(named: "ds").id
            let classOf = Dictionary(uniqueKeysWithValues: try tx.datasets.classes(of: datasetID).map { ($0.wnid, $0.id) })
            let captionPath = Dictionary(uniqueKeysWithValues: try tx.captions.captionDetails(of: datasetID).map { ($0.id, $0.path) })
            func prompt(_ path: String?, strategy: String, wnid: String) throws -> Int64 {
                try #require(try tx.prompts.prompts(of: datasetID, strategy: strategy).first { prompt in
                    prompt.row.classID == classOf[wnid] && prompt.row.captionID.flatMap { captionPath[$0] } == path
                }).id
            }
            let rows: [(Digest, Int64, Int64)] = [
                (synthetic[0], try prompt(paths[0], strategy: "class-caption", wnid: "n01"), 7),
                (synthetic[1], try prompt(paths[0], strategy: "class-caption", wnid: "n01"), 8),
                (synthetic[2], try prompt(paths[3], strategy: "class-caption", wnid: "n02"), 7),
                (synthetic[3], try prompt(nil, strategy: "class-name", wnid: "n01"), 1),
            ]
            for (digest, promptID, seed) in rows {
                try tx.synthetic.putSynthetic(SyntheticRow(blobID: tx.newBlobIDs[digest]!, promptID: promptID, generatorID: generator,
                                                           seed: seed, steps: 4, guidance: 0.0, width: 512, height: 512))
            }
        }
        return Fixture(temp: temp, store: store, writer: writer, real: real, paths: paths,
                       fromCaption0: [synthetic[0], synthetic[1]], fromCaption3: synthetic[2], fromClassName: synthetic[3],
                       orphan: synthetic[4])
    }

    @Test func syntheticTracesBackToCaptionRealImageAndClass() throws {
        let f = try Self.makeFixture()
        guard case .synthetic(let s) = try Lineage.lookup(f.store, f.fromCaption0[1].hex) else {
            Issue.record("not reported as synthetic")
            return
        }
        #expect(s.digest == f.fromCaption0[1].hex)
        #expect(s.prompt.text == "crane, a bird standing in 100% clear water")
        #expect(s.prompt.strategy == "class-caption" && s.prompt.template == "{class}, {caption}" && !s.prompt.truncated)
        #expect(s.caption == Lineage.CaptionInfo(text: "a bird standing in 100% clear water", captioner: "blip2"))
        #expect(s.real == Lineage.RealInfo(digest: f.real[0].hex, path: f.paths[0], split: "train"))
        #expect(s.class == Lineage.ClassInfo(wnid: "n01", label: 0, name: "crane, bird"))
        #expect(s.dataset == "ds")
        #expect(s.generator == Lineage.GeneratorInfo(name: "sd-turbo", version: "2.1"))
        #expect(s.seed == 8 && s.steps == 4 && s.guidance == 0 && s.width == 512 && s.height == 512)

        // A unique prefix works as well as the full digest.
        #expect(try Lineage.lookup(f.store, String(f.fromCaption0[1].hex.prefix(10))) == .synthetic(s))

        // A class-name prompt has no caption and no real image; JSON says so with nulls.
        guard case .synthetic(let plain) = try Lineage.lookup(f.store, f.fromClassName.hex) else {
            Issue.record("not reported as synthetic")
            return
        }
        #expect(plain.caption == nil && plain.real == nil && plain.prompt.text == "crane" && plain.prompt.strategy == "class-name")
        let json = try JSONSerialization.jsonObject(with: JSONEncoder().encode(Lineage.Result.synthetic(plain))) as? [String: Any]
        #expect(json?["kind"] as? String == "synthetic")
        #expect(json?["caption"] is NSNull && json?["real"] is NSNull)
    }

    @Test func realImageListsCaptionsPromptsAndSyntheticImages() throws {
        let f = try Self.makeFixture()
        guard case .real(let r) = try Lineage.lookup(f.store, f.real[0].hex) else {
            Issue.record("not reported as real")
            return
        }
        #expect(r.digest == f.real[0].hex)
        #expect(r.images == [Lineage.RealImageInfo(dataset: "ds", split: "train", path: f.paths[0],
                                                    class: .init(wnid: "n01", label: 0, name: "crane, bird"))])
        #expect(r.captions.count == 1)
        let caption = try #require(r.captions.first)
        #expect(caption.captioner == "blip2" && caption.text == "a bird standing in 100% clear water")
        // Class-name prompts come from the class, not from this image: only the caption's prompt is listed.
        #expect(caption.prompts.map(\.strategy) == ["class-caption"])
        let synthetic = try #require(caption.prompts.first?.synthetic)
        #expect(synthetic.map(\.digest) == f.fromCaption0.map(\.hex))
        #expect(synthetic.map(\.seed) == [7, 8])
        #expect(synthetic.allSatisfy { $0.generator == "sd-turbo" && $0.generatorVersion == "2.1" })

        // Captioned but nothing generated yet; and not captioned at all.
        guard case .real(let white) = try Lineage.lookup(f.store, f.real[1].hex) else { Issue.record("not real"); return }
        #expect(white.captions.count == 1 && white.captions[0].prompts.count == 1 && white.captions[0].prompts[0].synthetic.isEmpty)
        guard case .real(let bare) = try Lineage.lookup(f.store, f.real[2].hex) else { Issue.record("not real"); return }
        #expect(bare.images.count == 1 && bare.captions.isEmpty)
    }

    @Test func unknownOrUnrelatedDigestsAreErrors() throws {
        let f = try Self.makeFixture()
        #expect(throws: StoreError.self) { try Lineage.lookup(f.store, String(repeating: "0", count: 64)) }
        #expect(throws: StoreError.self) { try Lineage.lookup(f.store, "not-a-digest") }
        #expect(throws: StoreError.self) { try Lineage.lookup(f.store, "ab") }
        // The orphan blob exists but is neither a real nor a synthetic image.
        let error = #expect(throws: PipelineError.self) { try Lineage.lookup(f.store, f.orphan.hex) }
        #expect(error?.message.contains("neither") == true)
    }

    static func list(_ store: Store, _ filter: Lineage.Filter) throws -> [Lineage.SyntheticEntry] {
        var entries: [Lineage.SyntheticEntry] = []
        try Lineage.forEachSynthetic(store, filter: filter) { entries.append($0) }
        return entries
    }

    @Test func syntheticListingFiltersCombineAndEscapeWildcards() throws {
        let f = try Self.makeFixture()
        let all = try Self.list(f.store, .init())
        #expect(all.map(\.digest) == (f.fromCaption0 + [f.fromCaption3, f.fromClassName]).map(\.hex))
        let first = try #require(all.first)
        #expect(first.prompt == "crane, a bird standing in 100% clear water" && first.strategy == "class-caption")
        #expect(first.caption == "a bird standing in 100% clear water" && first.realDigest == f.real[0].hex)
        #expect(first.class == "n01" && first.dataset == "ds" && first.generator == "sd-turbo" && first.seed == 7)

        // LIKE wildcards in the text match only themselves.
        #expect(try Self.list(f.store, .init(captionContains: "%")).map(\.digest) == f.fromCaption0.map(\.hex))
        #expect(try Self.list(f.store, .init(captionContains: "100% clear")).count == 2)
        #expect(try Self.list(f.store, .init(captionContains: "_")).map(\.digest) == [f.fromCaption3.hex])
        #expect(try Self.list(f.store, .init(captionContains: "w_ter")).isEmpty)
        #expect(try Self.list(f.store, .init(captionContains: "1%0")).isEmpty)
        #expect(Lineage.containsPattern(#"a\b%c_"#) == #"%a\\b\%c\_%"#)
        // Case-insensitive.
        #expect(try Self.list(f.store, .init(captionContains: "BIRD STANDING")).count == 2)
        #expect(try Self.list(f.store, .init(captionContains: "YELLOW")).map(\.digest) == [f.fromCaption3.hex])

        #expect(try Self.list(f.store, .init(strategy: "class-name")).map(\.digest) == [f.fromClassName.hex])
        #expect(try Self.list(f.store, .init(className: "n02")).map(\.digest) == [f.fromCaption3.hex])
        #expect(try Self.list(f.store, .init(className: "crane, bird")).count == 3)
        #expect(try Self.list(f.store, .init(dataset: "ds", generator: "sd-turbo")).count == 4)
        #expect(try Self.list(f.store, .init(generator: "other")).isEmpty)
        // AND: a bird caption in class n02 does not exist.
        #expect(try Self.list(f.store, .init(captionContains: "bird", className: "n02")).isEmpty)
        #expect(try Self.list(f.store, .init(captionContains: "bird", strategy: "class-caption", className: "n01")).count == 2)

        // Class-name images have no caption: the JSON line still has the keys, as null.
        let plain = try #require(try Self.list(f.store, .init(strategy: "class-name")).first)
        let json = try JSONSerialization.jsonObject(with: JSONEncoder().encode(plain)) as? [String: Any]
        #expect(json?["caption"] is NSNull && json?["real_digest"] is NSNull)
        #expect(json?["digest"] as? String == f.fromClassName.hex && json?["class"] as? String == "n01")

        #expect(throws: StoreError.self) { try Self.list(f.store, .init(dataset: "nope")) }
    }
}
