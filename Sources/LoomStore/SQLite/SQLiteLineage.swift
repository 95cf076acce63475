internal import GRDB

/// Lineage over `v_lineage` (schema/0003_pipeline.sql), the one place its joins live.
struct SQLiteLineageReader: LineageReading, SQLiteRepository {
    let db: Database

    func synthetic(_ digest: Digest) throws -> LineageRecord? {
        let statement = try db.cachedStatement(sql: """
            SELECT \(Self.columns) FROM v_lineage WHERE blob_id = (SELECT id FROM blobs WHERE digest = ?) ORDER BY synthetic_id LIMIT 1
            """)
        return try Row.fetchOne(statement, arguments: [digest.databaseValue]).map(Self.record)
    }

    func real(_ digest: Digest) throws -> [RealLineageRecord] {
        // Index lookups all the way: blobs(digest) -> real_images_by_blob -> captions(real_image_id,
        // captioner_id) -> prompts(caption_id) -> synthetic_images(prompt_id, ...).
        let images = try Row.fetchAll(db.cachedStatement(sql: """
            SELECT r.id, d.name AS dataset, sp.name AS split, r.path, cl.wnid, cl.label, cl.name AS class_name
            FROM real_images r
            JOIN splits sp ON sp.id = r.split_id
            JOIN datasets d ON d.id = sp.dataset_id
            JOIN classes cl ON cl.id = r.class_id
            WHERE r.blob_id = (SELECT id FROM blobs WHERE digest = ?)
            ORDER BY d.name, sp.name, r.path
            """), arguments: [digest.databaseValue])
        guard !images.isEmpty else { return [] }
        let captionsOf = try db.cachedStatement(sql: """
            SELECT c.id, c.text, cr.name AS captioner FROM captions c JOIN captioners cr ON cr.id = c.captioner_id
            WHERE c.real_image_id = ? ORDER BY cr.name, c.id
            """)
        let promptsOf = try db.cachedStatement(sql: """
            SELECT id, text, strategy, template, truncated FROM prompts WHERE caption_id = ? ORDER BY strategy, template, id
            """)
        let syntheticOf = try db.cachedStatement(sql: """
            SELECT b.digest, s.seed, s.steps, s.guidance, s.width, s.height, g.name AS generator, g.version AS generator_version
            FROM synthetic_images s JOIN blobs b ON b.id = s.blob_id JOIN generators g ON g.id = s.generator_id
            WHERE s.prompt_id = ? ORDER BY s.id
            """)
        return try images.map { image in
            let captions = try Row.fetchAll(captionsOf, arguments: [image["id"] as Int64]).map { caption in
                let prompts = try Row.fetchAll(promptsOf, arguments: [caption["id"] as Int64]).map { prompt in
                    let synthetic = try Row.fetchAll(syntheticOf, arguments: [prompt["id"] as Int64]).map { s in
                        DerivedSynthetic(digest: s["digest"], seed: s["seed"], generator: s["generator"],
                                         generatorVersion: s["generator_version"], steps: s["steps"], guidance: s["guidance"],
                                         width: s["width"], height: s["height"])
                    }
                    return DerivedPromptRecord(text: prompt["text"], strategy: prompt["strategy"], template: prompt["template"],
                                               truncated: prompt["truncated"], synthetic: synthetic)
                }
                return DerivedCaptionRecord(captioner: caption["captioner"], text: caption["text"], prompts: prompts)
            }
            return RealLineageRecord(dataset: image["dataset"], split: image["split"], path: image["path"], classWnid: image["wnid"],
                                     label: image["label"], className: image["class_name"], captions: captions)
        }
    }

    func forEachSynthetic(_ filter: LineageFilter, _ body: (LineageRecord) throws -> Void) throws {
        if let dataset = filter.dataset { _ = try SQLiteDatasetReader(db: db).requireDataset(named: dataset) }
        // Only the filters given go into the SQL, so the planner starts from the most selective table.
        var conditions: [String] = [], arguments: StatementArguments = []
        if let dataset = filter.dataset { conditions.append("dataset = ?"); arguments += [dataset] }
        if let text = filter.captionContains {
            // As a set of prompt ids: scan the captions, then look the synthetic images up by prompt.
            conditions.append("""
                prompt_id IN (SELECT fp.id FROM prompts fp JOIN captions fc ON fc.id = fp.caption_id
                                WHERE fc.text LIKE ? ESCAPE '\\')
                """)
            arguments += [LineageFilter.containsPattern(text)]
        }
        if let strategy = filter.strategy { conditions.append("strategy = ?"); arguments += [strategy] }
        if let name = filter.className {
            conditions.append("(class = ? OR class_name = ? OR class_prompt_name = ?)")
            arguments += [name, name, name]
        }
        if let generator = filter.generator { conditions.append("generator = ?"); arguments += [generator] }
        let rows = try Row.fetchCursor(db, sql: """
            SELECT \(Self.columns) FROM v_lineage
            \(conditions.isEmpty ? "" : "WHERE " + conditions.joined(separator: " AND "))
            ORDER BY synthetic_id
            """, arguments: arguments)
        while let row = try rows.next() { try body(try Self.record(row)) }
    }

    /// The columns ``record(_:)`` reads, by position: a listing decodes every row of a large
    /// selection, and each lookup by name scans the row's column names.
    static let columns = """
        synthetic_id, digest, strategy, template, prompt, truncated, full_text, caption, captioner, real_digest, \
        real_path, real_split, class, label, class_name, dataset, generator, generator_version, seed, steps, guidance, \
        width, height
        """

    static func record(_ row: Row) throws -> LineageRecord {
        guard let digest = Digest(hex: row[1]) else { throw StoreError(.corrupt, "blob row has a malformed digest") }
        return LineageRecord(
            syntheticID: row[0], digest: digest, strategy: row[2], template: row[3],
            prompt: row[4], truncated: row[5], fullText: row[6], caption: row[7],
            captioner: row[8], realDigest: (row[9] as String?).flatMap(Digest.init(hex:)),
            realPath: row[10], realSplit: row[11], classWnid: row[12], label: row[13],
            className: row[14], dataset: row[15], generator: row[16],
            generatorVersion: row[17], seed: row[18], steps: row[19], guidance: row[20],
            width: row[21], height: row[22])
    }
}
