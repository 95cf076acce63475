internal import NIOCore
internal import PostgresNIO

/// Lineage over `v_lineage` (schema/postgres/0003_pipeline.sql), as SQLiteLineage.swift reads it.
struct PostgresLineageReader: LineageReading, PostgresRepository {
    let session: PostgresSession

    func real(_ digest: Digest) throws -> [RealLineageRecord] {
        let images = try session.rows("""
            SELECT r.id, d.name AS dataset, sp.name AS split, r.path, cl.wnid, cl.label, cl.name AS class_name
            FROM real_images r
            JOIN splits sp ON sp.id = r.split_id
            JOIN datasets d ON d.id = sp.dataset_id
            JOIN classes cl ON cl.id = r.class_id
            WHERE r.blob_id = (SELECT id FROM blobs WHERE digest = \(digest.postgres))
            ORDER BY d.name COLLATE "C", sp.name COLLATE "C", r.path COLLATE "C"
            """)
        return try images.map { image in
            let imageID: Int64 = try image.value("id")
            let captions = try session.rows("""
                SELECT c.id, c.text, cr.name AS captioner FROM captions c JOIN captioners cr ON cr.id = c.captioner_id
                WHERE c.real_image_id = \(imageID) ORDER BY cr.name COLLATE "C", c.id
                """).map { caption in
                let captionID: Int64 = try caption.value("id")
                let prompts = try session.rows("""
                    SELECT id, text, strategy, template, truncated FROM prompts WHERE caption_id = \(captionID)
                    ORDER BY strategy COLLATE "C", template COLLATE "C", id
                    """).map { prompt in
                    let promptID: Int64 = try prompt.value("id")
                    let synthetic = try session.rows("""
                        SELECT b.digest, s.seed, s.steps, s.guidance, s.width, s.height, g.name AS generator, g.version AS generator_version
                        FROM synthetic_images s JOIN blobs b ON b.id = s.blob_id JOIN generators g ON g.id = s.generator_id
                        WHERE s.prompt_id = \(promptID) ORDER BY s.id
                        """).map { s in
                        DerivedSynthetic(digest: try s.digest("digest"), seed: try s.value("seed"), generator: try s.value("generator"),
                                         generatorVersion: try s.value("generator_version"), steps: try s.value("steps"),
                                         guidance: try s.value("guidance"), width: try s.value("width"), height: try s.value("height"))
                    }
                    let truncated: Int = try prompt.value("truncated")
                    return DerivedPromptRecord(text: try prompt.value("text"), strategy: try prompt.value("strategy"),
                                               template: try prompt.value("template"), truncated: truncated != 0, synthetic: synthetic)
                }
                return DerivedCaptionRecord(captioner: try caption.value("captioner"), text: try caption.value("text"), prompts: prompts)
            }
            return RealLineageRecord(dataset: try image.value("dataset"), split: try image.value("split"), path: try image.value("path"),
                                     classWnid: try image.value("wnid"), label: try image.value("label"),
                                     className: try image.value("class_name"), captions: captions)
        }
    }

    func synthetic(_ digest: Digest) throws -> LineageRecord? {
        try session.rows("""
            SELECT * FROM v_lineage WHERE blob_id = (SELECT id FROM blobs WHERE digest = \(digest.postgres)) ORDER BY synthetic_id LIMIT 1
            """).first.map(Self.record)
    }

    func forEachSynthetic(_ filter: LineageFilter, _ body: (LineageRecord) throws -> Void) throws {
        if let dataset = filter.dataset { _ = try PostgresDatasetReader(session: session).requireDataset(named: dataset) }
        var statement = PostgresStatement(), conditions: [String] = []
        if let dataset = filter.dataset { conditions.append("dataset = \(statement.bind(dataset))") }
        if let text = filter.captionContains {
            // SQLite's LIKE folds ASCII case only; translate() does exactly that, whatever the
            // server's locale, where ILIKE or lower() would fold more.
            let fold = "'ABCDEFGHIJKLMNOPQRSTUVWXYZ', 'abcdefghijklmnopqrstuvwxyz'"
            let pattern = statement.bind(LineageFilter.containsPattern(text))
            conditions.append("""
                prompt_id IN (SELECT fp.id FROM prompts fp JOIN captions fc ON fc.id = fp.caption_id
                                WHERE translate(fc.text, \(fold)) LIKE translate(\(pattern), \(fold)) ESCAPE '\\')
                """)
        }
        if let strategy = filter.strategy { conditions.append("strategy = \(statement.bind(strategy))") }
        if let name = filter.className {
            let placeholder = statement.bind(name)
            conditions.append("(class = \(placeholder) OR class_name = \(placeholder) OR class_prompt_name = \(placeholder))")
        }
        if let generator = filter.generator { conditions.append("generator = \(statement.bind(generator))") }
        statement.sql = """
            SELECT * FROM v_lineage
            \(conditions.isEmpty ? "" : "WHERE " + conditions.joined(separator: " AND "))
            ORDER BY synthetic_id
            """
        try session.forEachRow(statement.query) { try body(try Self.record($0)) }
    }

    static func record(_ row: PostgresRandomAccessRow) throws -> LineageRecord {
        guard let digest = Digest(hex: try row.value("digest")) else { throw StoreError(.corrupt, "blob row has a malformed digest") }
        let truncated: Int = try row.value("truncated")
        return LineageRecord(
            syntheticID: try row.value("synthetic_id"), digest: digest, strategy: try row.value("strategy"),
            template: try row.value("template"), prompt: try row.value("prompt"), truncated: truncated != 0,
            fullText: try row.value("full_text"), caption: try row.value("caption"), captioner: try row.value("captioner"),
            realDigest: (try row.value("real_digest", String?.self)).flatMap(Digest.init(hex:)),
            realPath: try row.value("real_path"), realSplit: try row.value("real_split"), classWnid: try row.value("class"),
            label: try row.value("label"), className: try row.value("class_name"), dataset: try row.value("dataset"),
            generator: try row.value("generator"), generatorVersion: try row.value("generator_version"), seed: try row.value("seed"),
            steps: try row.value("steps"), guidance: try row.value("guidance"), width: try row.value("width"),
            height: try row.value("height"))
    }
}
