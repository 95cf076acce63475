import GRDB

protocol SQLiteCaptionQueries: CaptionReading, SQLiteRepository {}

extension SQLiteCaptionQueries {
    func captionerID(name: String, params: String) throws -> Int64? {
        try Int64.fetchOne(db, sql: "SELECT id FROM captioners WHERE name = ? AND params = ?", arguments: [name, params])
    }

    func captioners(of datasetID: Int64) throws -> [String] {
        try String.fetchAll(db, sql: """
            SELECT DISTINCT cr.name FROM captions c JOIN captioners cr ON cr.id = c.captioner_id
            JOIN real_images r ON r.id = c.real_image_id JOIN splits s ON s.id = r.split_id
            WHERE s.dataset_id = ? ORDER BY cr.name
            """, arguments: [datasetID])
    }

    func captions(of realImageID: Int64) throws -> [CaptionRecord] {
        try Row.fetchAll(db, sql: """
            SELECT id, real_image_id, captioner_id, text FROM captions WHERE real_image_id = ? ORDER BY id
            """, arguments: [realImageID]).map {
            CaptionRecord(id: $0["id"], realImageID: $0["real_image_id"], captionerID: $0["captioner_id"], text: $0["text"])
        }
    }

    func count(of datasetID: Int64) throws -> Int {
        try Int.fetchOne(db, sql: """
            SELECT count(*) FROM captions c JOIN real_images r ON r.id = c.real_image_id
            JOIN splits s ON s.id = r.split_id WHERE s.dataset_id = ?
            """, arguments: [datasetID]) ?? 0
    }
}

struct SQLiteCaptionReader: SQLiteCaptionQueries {
    let db: Database
}

struct SQLiteCaptionWriter: SQLiteCaptionQueries, CaptionWriting {
    let db: Database

    func ensureCaptioner(name: String, params: String, backend: String) throws -> Int64 {
        if let id = try captionerID(name: name, params: params) { return id }
        try db.execute(sql: "INSERT INTO captioners (name, params, backend) VALUES (?, ?, ?)", arguments: [name, params, backend])
        return db.lastInsertedRowID
    }

    func putCaption(realImageID: Int64, captionerID: Int64, text: String, seconds: Double?) throws -> Int64 {
        try Int64.fetchOne(db.cachedStatement(sql: """
            INSERT INTO captions (real_image_id, captioner_id, text, seconds) VALUES (?, ?, ?, ?)
            ON CONFLICT (real_image_id, captioner_id) DO UPDATE SET text = excluded.text, seconds = excluded.seconds
            RETURNING id
            """), arguments: [realImageID, captionerID, text, seconds])!
    }
}

protocol SQLitePromptQueries: PromptReading, SQLiteRepository {}

extension SQLitePromptQueries {
    func count(of datasetID: Int64, strategy: String?) throws -> Int {
        try Int.fetchOne(db, sql: "SELECT count(*) FROM prompts WHERE dataset_id = ?1 AND (?2 IS NULL OR strategy = ?2)",
                         arguments: [datasetID, strategy]) ?? 0
    }

    func countFromCaptions(of datasetID: Int64, strategy: String, outside split: String) throws -> Int {
        try Int.fetchOne(db, sql: """
            SELECT count(*) FROM prompts p JOIN captions c ON c.id = p.caption_id JOIN real_images r ON r.id = c.real_image_id
            JOIN splits s ON s.id = r.split_id
            WHERE p.dataset_id = ? AND p.strategy = ? AND s.name != ?
            """, arguments: [datasetID, strategy, split]) ?? 0
    }
}

struct SQLitePromptReader: SQLitePromptQueries {
    let db: Database
}

struct SQLitePromptWriter: SQLitePromptQueries, PromptWriting {
    let db: Database

    func ensurePrompt(_ prompt: PromptRow) throws -> Int64 {
        if let id = try Int64.fetchOne(db.cachedStatement(sql: """
            SELECT id FROM prompts WHERE strategy = ? AND template = ? AND class_id = ? AND coalesce(caption_id, 0) = coalesce(?, 0)
            """), arguments: [prompt.strategy, prompt.template, prompt.classID, prompt.captionID]) {
            return id
        }
        try db.cachedStatement(sql: """
            INSERT INTO prompts (dataset_id, class_id, caption_id, strategy, template, text, tokens, token_rule, truncated, full_text)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
            """).execute(arguments: [prompt.datasetID, prompt.classID, prompt.captionID, prompt.strategy, prompt.template,
                                     prompt.text, prompt.tokens, prompt.tokenRule, prompt.truncated, prompt.fullText])
        return db.lastInsertedRowID
    }
}

protocol SQLiteSyntheticQueries: SyntheticReading, SQLiteRepository {}

extension SQLiteSyntheticQueries {
    func generatorID(name: String, version: String, params: String) throws -> Int64? {
        try Int64.fetchOne(db, sql: "SELECT id FROM generators WHERE name = ? AND version = ? AND params = ?",
                           arguments: [name, version, params])
    }

    func count(of datasetID: Int64, strategy: String?) throws -> Int {
        try Int.fetchOne(db, sql: """
            SELECT count(*) FROM synthetic_images s JOIN prompts p ON p.id = s.prompt_id
            WHERE p.dataset_id = ?1 AND (?2 IS NULL OR p.strategy = ?2)
            """, arguments: [datasetID, strategy]) ?? 0
    }
}

struct SQLiteSyntheticReader: SQLiteSyntheticQueries {
    let db: Database
}

struct SQLiteSyntheticWriter: SQLiteSyntheticQueries, SyntheticWriting {
    let db: Database

    func ensureGenerator(name: String, version: String, params: String, backend: String) throws -> Int64 {
        if let id = try generatorID(name: name, version: version, params: params) { return id }
        try db.execute(sql: "INSERT INTO generators (name, version, params, backend) VALUES (?, ?, ?, ?)",
                       arguments: [name, version, params, backend])
        return db.lastInsertedRowID
    }

    func putSynthetic(_ image: SyntheticRow) throws {
        try db.cachedStatement(sql: """
            INSERT INTO synthetic_images (blob_id, prompt_id, generator_id, seed, steps, guidance, width, height, params, seconds)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
            ON CONFLICT (prompt_id, generator_id, seed, steps, guidance, width, height) DO NOTHING
            """).execute(arguments: [image.blobID, image.promptID, image.generatorID, image.seed, image.steps, image.guidance,
                                     image.width, image.height, image.params, image.seconds])
    }
}
