import ArgumentParser
import Foundation
import LoomLoader
import LoomPipeline
import LoomStore

struct BenchLineageCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "lineage",
        abstract: "Lineage lookups and caption queries on a scratch catalog with many synthetic rows.",
        discussion: """
            Builds a temporary store holding catalog rows only (fake blob rows with random digests, no
            image bytes): real images with one caption each, prompts per caption, --per-prompt synthetic
            images per prompt, --rows in all. Then times `loom lineage` of random synthetic and real
            digests and a `loom synthetic --caption-contains` query. Build with -c release.
            """)

    @Option(help: "Synthetic image rows.")
    var rows: Int = 1_000_000

    @Option(name: .customLong("real-images"), help: "Real images (one caption each).")
    var realImages: Int = 10_000

    @Option(name: .customLong("per-prompt"), help: "Synthetic images per prompt.")
    var perPrompt: Int = 100

    @Option(help: "Classes.")
    var classes: Int = 100

    @Option(help: "Lookups of each kind.")
    var lookups: Int = 1000

    @Option(help: "Random seed.")
    var seed: UInt64 = 1

    @Flag(name: .long, help: "Print JSON to stdout instead of text.")
    var json = false

    struct Timing: Codable {
        var count: Int
        var median_ms: Double
        var p99_ms: Double
        var max_ms: Double
    }

    struct Report: Codable {
        var synthetic_rows: Int
        var real_images: Int
        var prompts: Int
        var build_seconds: Double
        var catalog_megabytes: Double
        var synthetic_lookup: Timing
        var real_lookup: Timing
        var prefix_lookup: Timing
        var caption_query: Timing
        var caption_query_matches: Int
        /// EXPLAIN QUERY PLAN of the lineage statements, to show which indexes they use.
        var plans: [String: [String]]
    }

    static let strategies = [("class-caption", "{class}, {caption}"), ("caption", "{caption}"), ("paper-caption", "a photo of {class}, {caption}")]
    static let adjectives = ["small", "large", "red", "white", "striped", "old", "young", "wet", "shiny", "dark"]
    static let nouns = ["dog", "fish", "bird", "car", "boat", "tree", "house", "man", "woman", "crane"]
    static let places = ["on a beach", "in a field", "on a street", "in the water", "in a kitchen", "at night", "in the snow"]
    static let needle = "zanzibar"

    func run() throws {
        guard rows > 0, realImages > 0, perPrompt > 0, classes > 0, lookups > 0 else { throw ValidationError("counts must be positive") }
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("loom-bench-lineage-" + UUID().uuidString).path
        defer { try? FileManager.default.removeItem(atPath: root) }
        let layout = StoreLayout(root: root)
        var random = SplitMix64(seed: seed)

        let start = Date()
        let scratch = plan(&random)
        try LineageBenchCatalog.build(layout, classes: classes, real: scratch.real, synthetic: scratch.synthetic, perPrompt: perPrompt)
        let buildSeconds = Date().timeIntervalSince(start)
        let catalogBytes = (try? FileManager.default.attributesOfItem(atPath: layout.catalogPath)[.size] as? Int) ?? 0

        // Measure on a fresh read-only open, as `loom lineage` sees the store.
        let report = try measure(Store(layout, access: .readOnly), scratch, random: &random, buildSeconds: buildSeconds,
                                 catalogMegabytes: Double(catalogBytes) / 1e6)
        if json { return try Output.json(report) }
        printText(report)
    }

    /// The scratch catalog's rows: real images with their caption and prompts, and the synthetic digests.
    struct Scratch {
        var real: [LineageBenchCatalog.RealImage]
        var synthetic: [Digest]
        var prompts: Int
    }

    /// Draws the rows in the order they go in (digest, then caption words, per real image; then
    /// the synthetic digests), so a seed gives the same catalog as it always has.
    func plan(_ random: inout SplitMix64) -> Scratch {
        let promptCount = (rows + perPrompt - 1) / perPrompt
        let promptsPerCaption = (promptCount + realImages - 1) / realImages
        var real: [LineageBenchCatalog.RealImage] = []
        real.reserveCapacity(realImages)
        var prompts = 0
        for i in 0..<realImages {
            let digest = Self.randomDigest(&random)
            let classIndex = i % classes
            var text = "a \(Self.adjectives[Int(random.next() % 10)]) \(Self.nouns[Int(random.next() % 10)]) \(Self.places[Int(random.next() % 7)])"
            if i % 1000 == 7 { text += " in " + Self.needle.capitalized }
            var made: [LineageBenchCatalog.Prompt] = []
            for j in 0..<promptsPerCaption where prompts < promptCount {
                let (strategy, template) = j < Self.strategies.count ? Self.strategies[j] : ("bench-\(j)", "{class} \(j), {caption}")
                let rendered = template.replacingOccurrences(of: "{class}", with: "class \(classIndex)")
                    .replacingOccurrences(of: "{caption}", with: text)
                made.append(.init(strategy: strategy, template: template, text: rendered, tokens: PromptLength.count(rendered)))
                prompts += 1
            }
            real.append(.init(digest: digest, classIndex: classIndex, caption: text, prompts: made))
        }
        var synthetic: [Digest] = []
        synthetic.reserveCapacity(rows)
        for _ in 0..<rows { synthetic.append(Self.randomDigest(&random)) }
        return Scratch(real: real, synthetic: synthetic, prompts: promptCount)
    }

    static func randomDigest(_ random: inout SplitMix64) -> Digest {
        var data = Data(count: 32)
        data.withUnsafeMutableBytes { raw in
            for i in 0..<4 { raw.storeBytes(of: random.next(), toByteOffset: i * 8, as: UInt64.self) }
        }
        return Digest(raw: data)!
    }

    /// Times random lookups of each kind and the caption query.
    func measure(_ store: Store, _ scratch: Scratch, random: inout SplitMix64, buildSeconds: Double,
                 catalogMegabytes: Double) throws -> Report {
        let realDigests = scratch.real.map(\.digest)
        let syntheticPicks = (0..<lookups).map { _ in scratch.synthetic[Int(random.next() % UInt64(scratch.synthetic.count))].hex }
        let realPicks = (0..<lookups).map { _ in realDigests[Int(random.next() % UInt64(realDigests.count))].hex }
        for pick in syntheticPicks.prefix(10) { _ = try Lineage.lookup(store, pick) }  // warm the connection
        let syntheticTiming = try Self.time(lookups) { i in
            guard case .synthetic = try Lineage.lookup(store, syntheticPicks[i]) else { throw ValidationError("not synthetic") }
        }
        let realTiming = try Self.time(lookups) { i in
            guard case .real(let r) = try Lineage.lookup(store, realPicks[i]) else { throw ValidationError("not real") }
            if i == 0, r.captions.first?.prompts.first?.synthetic.isEmpty != false, rows >= realImages * perPrompt {
                throw ValidationError("a real image traced to no synthetic image")
            }
        }
        let prefixTiming = try Self.time(lookups) { i in _ = try Lineage.lookup(store, String(syntheticPicks[i].prefix(12))) }
        var matches = 0
        let queryTiming = try Self.time(5) { _ in
            matches = 0
            try Lineage.forEachSynthetic(store, filter: .init(captionContains: Self.needle)) { _ in matches += 1 }
        }
        return Report(
            synthetic_rows: rows, real_images: realImages, prompts: scratch.prompts, build_seconds: buildSeconds,
            catalog_megabytes: catalogMegabytes, synthetic_lookup: syntheticTiming, real_lookup: realTiming,
            prefix_lookup: prefixTiming, caption_query: queryTiming, caption_query_matches: matches,
            plans: try LineageBenchCatalog.queryPlans(store))
    }

    static func time(_ count: Int, _ body: (Int) throws -> Void) rethrows -> Timing {
        var ms: [Double] = []
        ms.reserveCapacity(count)
        for i in 0..<count {
            let t = DispatchTime.now().uptimeNanoseconds
            try body(i)
            ms.append(Double(DispatchTime.now().uptimeNanoseconds - t) / 1e6)
        }
        ms.sort()
        return Timing(count: count, median_ms: ms[ms.count / 2], p99_ms: ms[min(ms.count - 1, ms.count * 99 / 100)], max_ms: ms.last!)
    }

    /// The text report.
    func printText(_ report: Report) {
        Output.stdout(String(format: "scratch catalog: %d synthetic rows, %d real images, %d prompts, built in %.1f s (%.0f MB)",
                             report.synthetic_rows, report.real_images, report.prompts, report.build_seconds,
                             report.catalog_megabytes))
        func line(_ name: String, _ t: Timing) {
            let padded = name.count < 34 ? name + String(repeating: " ", count: 34 - name.count) : name
            Output.stdout("  " + padded + String(format: "median %8.3f ms   p99 %8.3f ms   max %8.3f ms   (%d runs)",
                                                 t.median_ms, t.p99_ms, t.max_ms, t.count))
        }
        line("lineage of a synthetic digest", report.synthetic_lookup)
        line("lineage of a real digest", report.real_lookup)
        line("lineage of a 12-digit prefix", report.prefix_lookup)
        line("synthetic --caption-contains", report.caption_query)
        Output.stdout("  caption query matched \(report.caption_query_matches) synthetic images")
        for (name, detail) in report.plans.sorted(by: { $0.key < $1.key }) {
            Output.stdout("  plan \(name): \(detail.joined(separator: "; "))")
        }
    }
}
