internal import GRDB

protocol SQLiteCaptionQueries: CaptionReading, SQLiteRepository {}

extension SQLiteCaptionQueries {
    func captionerID(name: String, params: String) throws -> Int64? {
        try Int64.fetchOne(db, sql: "SELECT id FROM captioners WHERE name = ? AND params = ?", arguments: [name, params])
    }

    func latestCaptioner(backend: String) throws -> BackendIdentity? {
        try Row.fetchOne(db, sql: """
            SELECT id, name, '' AS version, params, created_at FROM captioners WHERE backend = ? ORDER BY id DESC LIMIT 1
            """, arguments: [backend]).map(backendIdentity)
    }

    func captionerCount() throws -> Int { try Int.fetchOne(db, sql: "SELECT count(*) FROM captioners") ?? 0 }

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

    func caption(of realImageID: Int64, by captionerID: Int64) throws -> String? {
        try String.fetchOne(db.cachedStatement(sql: "SELECT text FROM captions WHERE real_image_id = ? AND captioner_id = ?"),
                            arguments: [realImageID, captionerID])
    }

    func captionTargets(of datasetID: Int64, splitID: Int64?, captionerID: Int64) throws -> [CaptionTarget] {
        try Row.fetchAll(db, sql: """
            SELECT r.id, r.path, b.digest, b.media_type, EXISTS (
                SELECT 1 FROM captions c WHERE c.real_image_id = r.id AND c.captioner_id = ?1) AS done
            FROM real_images r JOIN splits s ON s.id = r.split_id JOIN blobs b ON b.id = r.blob_id
            WHERE s.dataset_id = ?2 AND (?3 IS NULL OR s.id = ?3) ORDER BY r.id
            """, arguments: [captionerID, datasetID, splitID]).map {
            CaptionTarget(realImageID: $0["id"], path: $0["path"], digest: $0["digest"], mediaType: $0["media_type"], captioned: $0["done"])
        }
    }

    func uncaptionedCount(of datasetID: Int64, splitID: Int64?, captionerID: Int64) throws -> Int {
        try Int.fetchOne(db, sql: """
            SELECT count(*) FROM real_images r JOIN splits s ON s.id = r.split_id
            WHERE s.dataset_id = ?1 AND (?2 IS NULL OR s.id = ?2)
              AND NOT EXISTS (SELECT 1 FROM captions c WHERE c.real_image_id = r.id AND c.captioner_id = ?3)
            """, arguments: [datasetID, splitID, captionerID]) ?? 0
    }

    func realImageIDs(of datasetID: Int64, path: String) throws -> [Int64] {
        try Int64.fetchAll(db.cachedStatement(sql: """
            SELECT r.id FROM real_images r JOIN splits s ON s.id = r.split_id WHERE s.dataset_id = ? AND r.path = ? ORDER BY r.id
            """), arguments: [datasetID, path])
    }

    func realImageIDs(of datasetID: Int64, digest: Digest) throws -> [Int64] {
        try Int64.fetchAll(db.cachedStatement(sql: """
            SELECT r.id FROM real_images r JOIN splits s ON s.id = r.split_id JOIN blobs b ON b.id = r.blob_id
            WHERE s.dataset_id = ? AND b.digest = ? ORDER BY r.id
            """), arguments: [datasetID, digest.databaseValue])
    }

    func forEachCaption(of datasetID: Int64, captioner: String, split: String?, _ body: (DatasetCaption) throws -> Void) throws {
        let rows = try Row.fetchCursor(db, sql: """
            SELECT c.id, c.text, r.class_id FROM captions c
            JOIN captioners cr ON cr.id = c.captioner_id
            JOIN real_images r ON r.id = c.real_image_id JOIN splits s ON s.id = r.split_id
            WHERE s.dataset_id = ?1 AND cr.name = ?2 AND (?3 IS NULL OR s.name = ?3) ORDER BY c.id
            """, arguments: [datasetID, captioner, split])
        while let row = try rows.next() { try body(DatasetCaption(id: row["id"], text: row["text"], classID: row["class_id"])) }
    }

    func captionDetails(of datasetID: Int64?) throws -> [CaptionDetail] {
        try Row.fetchAll(db, sql: """
            SELECT c.id, c.real_image_id, r.path, b.digest, c.text, c.seconds, cr.name, cr.params, cr.backend
            FROM captions c JOIN captioners cr ON cr.id = c.captioner_id
            JOIN real_images r ON r.id = c.real_image_id JOIN splits s ON s.id = r.split_id JOIN blobs b ON b.id = r.blob_id
            WHERE ?1 IS NULL OR s.dataset_id = ?1 ORDER BY c.id
            """, arguments: [datasetID]).map {
            CaptionDetail(id: $0["id"], realImageID: $0["real_image_id"], path: $0["path"], digest: $0["digest"], text: $0["text"], seconds: $0["seconds"],
                          captioner: $0["name"], captionerParams: $0["params"], captionerBackend: $0["backend"])
        }
    }
}

/// A captioners or generators row read as an identity (a captioner's `version` column is '').
private func backendIdentity(_ row: Row) -> BackendIdentity {
    BackendIdentity(id: row["id"], name: row["name"], version: row["version"], params: row["params"], createdAt: row["created_at"])
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

    func removeCaption(id: Int64) throws {
        try db.execute(sql: "DELETE FROM captions WHERE id = ?", arguments: [id])
        if db.changesCount == 0 { throw StoreError(.notFound, "no caption with id \(id)") }
    }
}

protocol SQLitePromptQueries: PromptReading, SQLiteRepository {}

extension SQLitePromptQueries {
    func count(of datasetID: Int64, strategy: String?) throws -> Int {
        try Int.fetchOne(db, sql: "SELECT count(*) FROM prompts WHERE dataset_id = ?1 AND (?2 IS NULL OR strategy = ?2)",
                         arguments: [datasetID, strategy]) ?? 0
    }

    func prompts(of datasetID: Int64, strategy: String?) throws -> [PromptRecord] {
        try Row.fetchAll(db, sql: """
            SELECT id, dataset_id, class_id, caption_id, strategy, template, text, tokens, token_rule, truncated, full_text
            FROM prompts WHERE dataset_id = ?1 AND (?2 IS NULL OR strategy = ?2) ORDER BY id
            """, arguments: [datasetID, strategy]).map {
            PromptRecord(id: $0["id"], row: PromptRow(
                datasetID: $0["dataset_id"], classID: $0["class_id"], captionID: $0["caption_id"], strategy: $0["strategy"],
                template: $0["template"], text: $0["text"], tokens: $0["tokens"], tokenRule: $0["token_rule"],
                truncated: $0["truncated"], fullText: $0["full_text"]))
        }
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

    func insertPrompt(_ prompt: PromptRow) throws -> Bool {
        try db.cachedStatement(sql: """
            INSERT INTO prompts (dataset_id, class_id, caption_id, strategy, template, text, tokens, token_rule, truncated, full_text)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
            ON CONFLICT DO NOTHING
            """).execute(arguments: [prompt.datasetID, prompt.classID, prompt.captionID, prompt.strategy, prompt.template,
                                     prompt.text, prompt.tokens, prompt.tokenRule, prompt.truncated, prompt.fullText])
        return db.changesCount > 0
    }
}

protocol SQLiteSyntheticQueries: SyntheticReading, SQLiteRepository {}

extension SQLiteSyntheticQueries {
    func generatorID(name: String, version: String, params: String) throws -> Int64? {
        try Int64.fetchOne(db, sql: "SELECT id FROM generators WHERE name = ? AND version = ? AND params = ?",
                           arguments: [name, version, params])
    }

    func latestGenerator(backend: String) throws -> BackendIdentity? {
        try Row.fetchOne(db, sql: """
            SELECT id, name, version, params, created_at FROM generators WHERE backend = ? ORDER BY id DESC LIMIT 1
            """, arguments: [backend]).map(backendIdentity)
    }

    func contains(_ key: SyntheticKey) throws -> Bool {
        try Bool.fetchOne(db.cachedStatement(sql: """
            SELECT 1 FROM synthetic_images WHERE prompt_id = ? AND generator_id = ? AND seed = ? AND steps = ?
            AND guidance = ? AND width = ? AND height = ?
            """), arguments: [key.promptID, key.generatorID, key.seed, key.steps, key.guidance, key.width, key.height]) == true
    }

    func generators() throws -> [GeneratorRecord] {
        try Row.fetchAll(db, sql: "SELECT id, name, version, params, backend FROM generators ORDER BY id").map {
            GeneratorRecord(id: $0["id"], name: $0["name"], version: $0["version"], params: $0["params"], backend: $0["backend"])
        }
    }

    func syntheticImages() throws -> [SyntheticRecord] {
        try Row.fetchAll(db, sql: """
            SELECT s.*, b.digest FROM synthetic_images s JOIN blobs b ON b.id = s.blob_id ORDER BY s.id
            """).map {
            SyntheticRecord(id: $0["id"], digest: $0["digest"], row: SyntheticRow(
                blobID: $0["blob_id"], promptID: $0["prompt_id"], generatorID: $0["generator_id"], seed: $0["seed"],
                steps: $0["steps"], guidance: $0["guidance"], width: $0["width"], height: $0["height"], params: $0["params"],
                seconds: $0["seconds"]))
        }
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

    func putSynthetic(_ image: SyntheticRow) throws -> Bool {
        try db.cachedStatement(sql: """
            INSERT INTO synthetic_images (blob_id, prompt_id, generator_id, seed, steps, guidance, width, height, params, seconds)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
            ON CONFLICT (prompt_id, generator_id, seed, steps, guidance, width, height) DO NOTHING
            """).execute(arguments: [image.blobID, image.promptID, image.generatorID, image.seed, image.steps, image.guidance,
                                     image.width, image.height, image.params, image.seconds])
        return db.changesCount > 0
    }
}
