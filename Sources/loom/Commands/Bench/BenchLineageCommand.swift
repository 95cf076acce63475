import ArgumentParser
import Foundation
import GRDB
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
        func randomDigest() -> Data {
            var data = Data(count: 32)
            data.withUnsafeMutableBytes { raw in
                for i in 0..<4 { raw.storeBytes(of: random.next(), toByteOffset: i * 8, as: UInt64.self) }
            }
            return data
        }

        let promptCount = (rows + perPrompt - 1) / perPrompt
        let promptsPerCaption = (promptCount + realImages - 1) / realImages
        var realDigests: [Data] = [], syntheticDigests: [Data] = []
        realDigests.reserveCapacity(realImages)
        syntheticDigests.reserveCapacity(rows)

        let start = Date()
        do {
            let store = try Store(layout, access: .readWrite)
            try store.catalog.pool.writeWithoutTransaction { db in try db.execute(sql: "PRAGMA cache_size = -524288") }
            var promptIDs: [Int64] = []
            var generatorID: Int64 = 0
            try store.catalog.write { db in
                try db.execute(sql: "INSERT INTO shards (name, format_version, committed_bytes) VALUES ('bench-lineage-fake', 1, 0)")
                let shardID = db.lastInsertedRowID
                try db.execute(sql: "INSERT INTO datasets (name) VALUES ('bench')")
                let datasetID = db.lastInsertedRowID
                try db.execute(sql: "INSERT INTO splits (dataset_id, name) VALUES (?, 'train')", arguments: [datasetID])
                let splitID = db.lastInsertedRowID
                var classIDs: [Int64] = []
                for c in 0..<classes {
                    try db.execute(sql: "INSERT INTO classes (dataset_id, label, wnid, name, prompt_name) VALUES (?, ?, ?, ?, ?)",
                                   arguments: [datasetID, c, String(format: "n%08d", c), "class \(c)", "class \(c)"])
                    classIDs.append(db.lastInsertedRowID)
                }
                try db.execute(sql: "INSERT INTO captioners (name, backend) VALUES ('bench-captioner', 'import')")
                let captionerID = db.lastInsertedRowID
                try db.execute(sql: "INSERT INTO generators (name, version, backend) VALUES ('bench-generator', '1', 'builtin:bench')")
                generatorID = db.lastInsertedRowID
                let blob = try db.makeStatement(sql: """
                    INSERT INTO blobs (digest, shard_id, offset, stored_size, raw_size, codec, media_type) VALUES (?, ?, 0, 0, 0, 'raw', ?)
                    """)
                let real = try db.makeStatement(sql: """
                    INSERT INTO real_images (split_id, class_id, blob_id, path, name, width, height, format, color_space, file_size, file_mtime_ns)
                    VALUES (?, ?, ?, ?, ?, 500, 375, 'jpeg', 'rgb', 0, 0)
                    """)
                let caption = try db.makeStatement(sql: "INSERT INTO captions (real_image_id, captioner_id, text) VALUES (?, ?, ?)")
                let prompt = try db.makeStatement(sql: """
                    INSERT INTO prompts (dataset_id, class_id, caption_id, strategy, template, text, tokens, token_rule)
                    VALUES (?, ?, ?, ?, ?, ?, ?, 'clip-words-v1')
                    """)
                for i in 0..<realImages {
                    let digest = randomDigest()
                    realDigests.append(digest)
                    try blob.execute(arguments: [digest, shardID, "image/jpeg"])
                    let classIndex = i % classes
                    let wnid = String(format: "n%08d", classIndex)
                    try real.execute(arguments: [splitID, classIDs[classIndex], db.lastInsertedRowID, "train/\(wnid)/\(i).JPEG", "\(i).JPEG"])
                    let realID = db.lastInsertedRowID
                    var text = "a \(Self.adjectives[Int(random.next() % 10)]) \(Self.nouns[Int(random.next() % 10)]) \(Self.places[Int(random.next() % 7)])"
                    if i % 1000 == 7 { text += " in " + Self.needle.capitalized }
                    try caption.execute(arguments: [realID, captionerID, text])
                    let captionID = db.lastInsertedRowID
                    for j in 0..<promptsPerCaption where promptIDs.count < promptCount {
                        let (strategy, template) = j < Self.strategies.count ? Self.strategies[j] : ("bench-\(j)", "{class} \(j), {caption}")
                        let rendered = template.replacingOccurrences(of: "{class}", with: "class \(classIndex)")
                            .replacingOccurrences(of: "{caption}", with: text)
                        try prompt.execute(arguments: [datasetID, classIDs[classIndex], captionID, strategy, template, rendered, PromptLength.count(rendered)])
                        promptIDs.append(db.lastInsertedRowID)
                    }
                }
            }
            // Synthetic rows in transactions of 200k.
            var made = 0
            while made < rows {
                let end = min(rows, made + 200_000)
                try store.catalog.write { db in
                    let shardID = try Int64.fetchOne(db, sql: "SELECT id FROM shards WHERE name = 'bench-lineage-fake'")!
                    let blob = try db.makeStatement(sql: """
                        INSERT INTO blobs (digest, shard_id, offset, stored_size, raw_size, codec, media_type) VALUES (?, ?, 0, 0, 0, 'raw', 'image/png')
                        """)
                    let synthetic = try db.makeStatement(sql: """
                        INSERT INTO synthetic_images (blob_id, prompt_id, generator_id, seed, steps, guidance, width, height)
                        VALUES (?, ?, ?, ?, 30, 7.5, 512, 512)
                        """)
                    for n in made..<end {
                        let digest = randomDigest()
                        syntheticDigests.append(digest)
                        try blob.execute(arguments: [digest, shardID])
                        try synthetic.execute(arguments: [db.lastInsertedRowID, promptIDs[n / perPrompt], generatorID, n % perPrompt])
                    }
                }
                made = end
            }
            try store.catalog.pool.writeWithoutTransaction { db in try db.execute(sql: "PRAGMA wal_checkpoint(TRUNCATE)") }
        }
        let buildSeconds = Date().timeIntervalSince(start)
        let catalogBytes = (try? FileManager.default.attributesOfItem(atPath: layout.catalogPath)[.size] as? Int) ?? 0

        // Measure on a fresh read-only open, as `loom lineage` sees the store.
        let store = try Store(layout, access: .readOnly)
        func hex(_ data: Data) -> String { data.map { String(format: "%02x", $0) }.joined() }
        func time(_ count: Int, _ body: (Int) throws -> Void) rethrows -> Timing {
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
        let syntheticPicks = (0..<lookups).map { _ in hex(syntheticDigests[Int(random.next() % UInt64(syntheticDigests.count))]) }
        let realPicks = (0..<lookups).map { _ in hex(realDigests[Int(random.next() % UInt64(realDigests.count))]) }
        for pick in syntheticPicks.prefix(10) { _ = try Lineage.lookup(store, pick) }  // warm the connection
        let syntheticTiming = try time(lookups) { i in
            guard case .synthetic = try Lineage.lookup(store, syntheticPicks[i]) else { throw ValidationError("not synthetic") }
        }
        let realTiming = try time(lookups) { i in
            guard case .real(let r) = try Lineage.lookup(store, realPicks[i]) else { throw ValidationError("not real") }
            if i == 0, r.captions.first?.prompts.first?.synthetic.isEmpty != false, rows >= realImages * perPrompt {
                throw ValidationError("a real image traced to no synthetic image")
            }
        }
        let prefixTiming = try time(lookups) { i in _ = try Lineage.lookup(store, String(syntheticPicks[i].prefix(12))) }
        var matches = 0
        let queryTiming = try time(5) { _ in
            matches = 0
            try Lineage.forEachSynthetic(store, filter: .init(captionContains: Self.needle)) { _ in matches += 1 }
        }
        let plans = try store.catalog.read { db -> [String: [String]] in
            func plan(_ sql: String) throws -> [String] {
                try Row.fetchAll(db, sql: "EXPLAIN QUERY PLAN " + sql).map { $0["detail"] as String }
            }
            return [
                "synthetic_by_blob": try plan("SELECT * FROM synthetic_images s JOIN prompts p ON p.id = s.prompt_id WHERE s.blob_id = 1"),
                "captions_of_real": try plan("SELECT c.id FROM captions c WHERE c.real_image_id = 1"),
                "prompts_of_caption": try plan("SELECT id FROM prompts WHERE caption_id = 1"),
                "synthetic_of_prompt": try plan("SELECT id FROM synthetic_images WHERE prompt_id = 1"),
                "caption_contains": try plan("""
                    SELECT s.id FROM synthetic_images s JOIN prompts p ON p.id = s.prompt_id LEFT JOIN captions c ON c.id = p.caption_id
                    WHERE s.prompt_id IN (SELECT fp.id FROM prompts fp JOIN captions fc ON fc.id = fp.caption_id
                                          WHERE fc.text LIKE '%x%' ESCAPE '\\') ORDER BY s.id
                    """),
            ]
        }
        let report = Report(
            synthetic_rows: rows, real_images: realImages, prompts: promptCount, build_seconds: buildSeconds,
            catalog_megabytes: Double(catalogBytes) / 1e6, synthetic_lookup: syntheticTiming, real_lookup: realTiming,
            prefix_lookup: prefixTiming, caption_query: queryTiming, caption_query_matches: matches, plans: plans)
        if json { return try Output.json(report) }
        Output.stdout(String(format: "scratch catalog: %d synthetic rows, %d real images, %d prompts, built in %.1f s (%.0f MB)",
                             rows, realImages, promptCount, buildSeconds, report.catalog_megabytes))
        func line(_ name: String, _ t: Timing) {
            let padded = name.count < 34 ? name + String(repeating: " ", count: 34 - name.count) : name
            Output.stdout("  " + padded + String(format: "median %8.3f ms   p99 %8.3f ms   max %8.3f ms   (%d runs)",
                                                 t.median_ms, t.p99_ms, t.max_ms, t.count))
        }
        line("lineage of a synthetic digest", syntheticTiming)
        line("lineage of a real digest", realTiming)
        line("lineage of a 12-digit prefix", prefixTiming)
        line("synthetic --caption-contains", queryTiming)
        Output.stdout("  caption query matched \(matches) synthetic images")
        for (name, detail) in plans.sorted(by: { $0.key < $1.key }) {
            Output.stdout("  plan \(name): \(detail.joined(separator: "; "))")
        }
    }
}
