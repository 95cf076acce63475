import GRDB

/// Lineage over `v_lineage` (schema/0003_pipeline.sql), the one place its joins live.
struct SQLiteLineageReader: LineageReading, SQLiteRepository {
    let db: Database

    func synthetic(_ digest: Digest) throws -> LineageRecord? {
        let statement = try db.cachedStatement(sql: """
            SELECT * FROM v_lineage WHERE blob_id = (SELECT id FROM blobs WHERE digest = ?) ORDER BY synthetic_id LIMIT 1
            """)
        return try Row.fetchOne(statement, arguments: [digest]).map(Self.record)
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
            SELECT * FROM v_lineage
            \(conditions.isEmpty ? "" : "WHERE " + conditions.joined(separator: " AND "))
            ORDER BY synthetic_id
            """, arguments: arguments)
        while let row = try rows.next() { try body(try Self.record(row)) }
    }

    static func record(_ row: Row) throws -> LineageRecord {
        guard let digest = Digest(hex: row["digest"]) else { throw StoreError(.corrupt, "blob row has a malformed digest") }
        return LineageRecord(
            syntheticID: row["synthetic_id"], digest: digest, strategy: row["strategy"], template: row["template"],
            prompt: row["prompt"], truncated: row["truncated"], fullText: row["full_text"], caption: row["caption"],
            captioner: row["captioner"], realDigest: (row["real_digest"] as String?).flatMap(Digest.init(hex:)),
            realPath: row["real_path"], realSplit: row["real_split"], classWnid: row["class"], label: row["label"],
            className: row["class_name"], dataset: row["dataset"], generator: row["generator"],
            generatorVersion: row["generator_version"], seed: row["seed"], steps: row["steps"], guidance: row["guidance"],
            width: row["width"], height: row["height"])
    }
}
