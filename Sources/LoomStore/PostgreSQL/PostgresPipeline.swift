internal import NIOCore
internal import PostgresNIO

protocol PostgresCaptionQueries: CaptionReading, PostgresRepository {}

extension PostgresCaptionQueries {
    func captionerID(name: String, params: String) throws -> Int64? {
        try session.scalar("SELECT id FROM captioners WHERE name = \(name) AND params = \(params)", as: Int64.self)
    }

    func latestCaptioner(backend: String) throws -> BackendIdentity? {
        try session.rows("""
            SELECT id, name, '' AS version, params, created_at FROM captioners WHERE backend = \(backend) ORDER BY id DESC LIMIT 1
            """).first.map(PostgresRows.backendIdentity)
    }

    func captionerCount() throws -> Int { try session.scalar("SELECT count(*) FROM captioners", as: Int.self) ?? 0 }

    func caption(of realImageID: Int64, by captionerID: Int64) throws -> String? {
        try session.scalar("SELECT text FROM captions WHERE real_image_id = \(realImageID) AND captioner_id = \(captionerID)",
                           as: String.self)
    }

    func captionTargets(of datasetID: Int64, splitID: Int64?, captionerID: Int64) throws -> [CaptionTarget] {
        var targets: [CaptionTarget] = []
        try session.forEachRow("""
            SELECT r.id, r.path, b.digest, b.media_type, EXISTS (
                SELECT 1 FROM captions c WHERE c.real_image_id = r.id AND c.captioner_id = \(captionerID)) AS done
            FROM real_images r JOIN splits s ON s.id = r.split_id JOIN blobs b ON b.id = r.blob_id
            WHERE s.dataset_id = \(datasetID) AND (\(splitID)::bigint IS NULL OR s.id = \(splitID)) ORDER BY r.id
            """) {
            targets.append(CaptionTarget(realImageID: try $0.value("id"), path: try $0.value("path"), digest: try $0.digest("digest"),
                                         mediaType: try $0.value("media_type"), captioned: try $0.value("done")))
        }
        return targets
    }

    func uncaptionedCount(of datasetID: Int64, splitID: Int64?, captionerID: Int64) throws -> Int {
        try session.scalar("""
            SELECT count(*) FROM real_images r JOIN splits s ON s.id = r.split_id
            WHERE s.dataset_id = \(datasetID) AND (\(splitID)::bigint IS NULL OR s.id = \(splitID))
              AND NOT EXISTS (SELECT 1 FROM captions c WHERE c.real_image_id = r.id AND c.captioner_id = \(captionerID))
            """, as: Int.self) ?? 0
    }

    func realImageIDs(of datasetID: Int64, path: String) throws -> [Int64] {
        try session.rows("""
            SELECT r.id FROM real_images r JOIN splits s ON s.id = r.split_id
            WHERE s.dataset_id = \(datasetID) AND r.path = \(path) ORDER BY r.id
            """).map { try $0.value(0, Int64.self) }
    }

    func realImageIDs(of datasetID: Int64, digest: Digest) throws -> [Int64] {
        try session.rows("""
            SELECT r.id FROM real_images r JOIN splits s ON s.id = r.split_id JOIN blobs b ON b.id = r.blob_id
            WHERE s.dataset_id = \(datasetID) AND b.digest = \(digest.postgres) ORDER BY r.id
            """).map { try $0.value(0, Int64.self) }
    }

    func forEachCaption(of datasetID: Int64, captioner: String, split: String?, _ body: (DatasetCaption) throws -> Void) throws {
        try session.forEachRow("""
            SELECT c.id, c.text, r.class_id FROM captions c
            JOIN captioners cr ON cr.id = c.captioner_id
            JOIN real_images r ON r.id = c.real_image_id JOIN splits s ON s.id = r.split_id
            WHERE s.dataset_id = \(datasetID) AND cr.name = \(captioner) AND (\(split)::text IS NULL OR s.name = \(split)) ORDER BY c.id
            """) { try body(DatasetCaption(id: try $0.value("id"), text: try $0.value("text"), classID: try $0.value("class_id"))) }
    }

    func captionDetails(of datasetID: Int64?) throws -> [CaptionDetail] {
        var details: [CaptionDetail] = []
        try session.forEachRow("""
            SELECT c.id, c.real_image_id, r.path, b.digest, c.text, c.seconds, cr.name, cr.params, cr.backend
            FROM captions c JOIN captioners cr ON cr.id = c.captioner_id
            JOIN real_images r ON r.id = c.real_image_id JOIN splits s ON s.id = r.split_id JOIN blobs b ON b.id = r.blob_id
            WHERE \(datasetID)::bigint IS NULL OR s.dataset_id = \(datasetID) ORDER BY c.id
            """) {
            details.append(CaptionDetail(
                id: try $0.value("id"), realImageID: try $0.value("real_image_id"), path: try $0.value("path"),
                digest: try $0.digest("digest"), text: try $0.value("text"), seconds: try $0.value("seconds"),
                captioner: try $0.value("name"), captionerParams: try $0.value("params"), captionerBackend: try $0.value("backend")))
        }
        return details
    }

    func captioners(of datasetID: Int64) throws -> [String] {
        try session.rows("""
            SELECT DISTINCT cr.name COLLATE "C" AS name FROM captions c JOIN captioners cr ON cr.id = c.captioner_id
            JOIN real_images r ON r.id = c.real_image_id JOIN splits s ON s.id = r.split_id
            WHERE s.dataset_id = \(datasetID) ORDER BY 1
            """).map { try $0.value(0, String.self) }
    }

    func captions(of realImageID: Int64) throws -> [CaptionRecord] {
        try session.rows("""
            SELECT id, real_image_id, captioner_id, text FROM captions WHERE real_image_id = \(realImageID) ORDER BY id
            """).map {
            CaptionRecord(id: try $0.value("id"), realImageID: try $0.value("real_image_id"), captionerID: try $0.value("captioner_id"),
                          text: try $0.value("text"))
        }
    }

    func count(of datasetID: Int64) throws -> Int {
        try session.scalar("""
            SELECT count(*) FROM captions c JOIN real_images r ON r.id = c.real_image_id
            JOIN splits s ON s.id = r.split_id WHERE s.dataset_id = \(datasetID)
            """, as: Int.self) ?? 0
    }
}

struct PostgresCaptionReader: PostgresCaptionQueries {
    let session: PostgresSession
}

struct PostgresCaptionWriter: PostgresCaptionQueries, CaptionWriting {
    let session: PostgresSession

    func ensureCaptioner(name: String, params: String, backend: String) throws -> Int64 {
        try PostgresRows.ensure(
            session, find: "SELECT id FROM captioners WHERE name = \(name) AND params = \(params)",
            insert: """
                INSERT INTO captioners (name, params, backend) VALUES (\(name), \(params), \(backend))
                ON CONFLICT (name, params) DO NOTHING RETURNING id
                """)
    }

    func removeCaption(id: Int64) throws {
        if try session.execute("DELETE FROM captions WHERE id = \(id)") == 0 { throw StoreError(.notFound, "no caption with id \(id)") }
    }

    func putCaption(realImageID: Int64, captionerID: Int64, text: String, seconds: Double?) throws -> Int64 {
        guard let id = try session.scalar("""
            INSERT INTO captions (real_image_id, captioner_id, text, seconds) VALUES (\(realImageID), \(captionerID), \(text), \(seconds))
            ON CONFLICT (real_image_id, captioner_id) DO UPDATE SET text = excluded.text, seconds = excluded.seconds
            RETURNING id
            """, as: Int64.self) else { throw StoreError(.io, "PostgreSQL at \(session.endpoint): INSERT INTO captions returned no id") }
        return id
    }
}

protocol PostgresPromptQueries: PromptReading, PostgresRepository {}

extension PostgresPromptQueries {
    func count(of datasetID: Int64, strategy: String?) throws -> Int {
        try session.scalar("""
            SELECT count(*) FROM prompts WHERE dataset_id = \(datasetID) AND (\(strategy)::text IS NULL OR strategy = \(strategy))
            """, as: Int.self) ?? 0
    }

    func prompts(of datasetID: Int64, strategy: String?) throws -> [PromptRecord] {
        var prompts: [PromptRecord] = []
        try session.forEachRow("""
            SELECT id, dataset_id, class_id, caption_id, strategy, template, text, tokens, token_rule, truncated, full_text
            FROM prompts WHERE dataset_id = \(datasetID) AND (\(strategy)::text IS NULL OR strategy = \(strategy)) ORDER BY id
            """) {
            let truncated: Int = try $0.value("truncated")
            prompts.append(PromptRecord(id: try $0.value("id"), row: PromptRow(
                datasetID: try $0.value("dataset_id"), classID: try $0.value("class_id"), captionID: try $0.value("caption_id"),
                strategy: try $0.value("strategy"), template: try $0.value("template"), text: try $0.value("text"),
                tokens: try $0.value("tokens"), tokenRule: try $0.value("token_rule"), truncated: truncated != 0,
                fullText: try $0.value("full_text"))))
        }
        return prompts
    }

    func countFromCaptions(of datasetID: Int64, strategy: String, outside split: String) throws -> Int {
        try session.scalar("""
            SELECT count(*) FROM prompts p JOIN captions c ON c.id = p.caption_id JOIN real_images r ON r.id = c.real_image_id
            JOIN splits s ON s.id = r.split_id
            WHERE p.dataset_id = \(datasetID) AND p.strategy = \(strategy) AND s.name <> \(split)
            """, as: Int.self) ?? 0
    }
}

struct PostgresPromptReader: PostgresPromptQueries {
    let session: PostgresSession
}

struct PostgresPromptWriter: PostgresPromptQueries, PromptWriting {
    let session: PostgresSession

    func ensurePrompt(_ prompt: PromptRow) throws -> Int64 {
        try PostgresRows.ensure(
            session,
            find: """
                SELECT id FROM prompts WHERE strategy = \(prompt.strategy) AND template = \(prompt.template)
                AND class_id = \(prompt.classID) AND coalesce(caption_id, 0) = coalesce(\(prompt.captionID)::bigint, 0)
                """,
            insert: """
                INSERT INTO prompts (dataset_id, class_id, caption_id, strategy, template, text, tokens, token_rule, truncated, full_text)
                VALUES (\(prompt.datasetID), \(prompt.classID), \(prompt.captionID), \(prompt.strategy), \(prompt.template),
                        \(prompt.text), \(prompt.tokens), \(prompt.tokenRule), \(prompt.truncated ? 1 : 0), \(prompt.fullText))
                ON CONFLICT (strategy, template, class_id, (coalesce(caption_id, 0))) DO NOTHING RETURNING id
                """)
    }

    func insertPrompt(_ prompt: PromptRow) throws -> Bool {
        try session.execute("""
            INSERT INTO prompts (dataset_id, class_id, caption_id, strategy, template, text, tokens, token_rule, truncated, full_text)
            VALUES (\(prompt.datasetID), \(prompt.classID), \(prompt.captionID), \(prompt.strategy), \(prompt.template),
                    \(prompt.text), \(prompt.tokens), \(prompt.tokenRule), \(prompt.truncated ? 1 : 0), \(prompt.fullText))
            ON CONFLICT (strategy, template, class_id, (coalesce(caption_id, 0))) DO NOTHING
            """) > 0
    }
}

protocol PostgresSyntheticQueries: SyntheticReading, PostgresRepository {}

extension PostgresSyntheticQueries {
    func generatorID(name: String, version: String, params: String) throws -> Int64? {
        try session.scalar("SELECT id FROM generators WHERE name = \(name) AND version = \(version) AND params = \(params)",
                           as: Int64.self)
    }

    func latestGenerator(backend: String) throws -> BackendIdentity? {
        try session.rows("""
            SELECT id, name, version, params, created_at FROM generators WHERE backend = \(backend) ORDER BY id DESC LIMIT 1
            """).first.map(PostgresRows.backendIdentity)
    }

    func contains(_ key: SyntheticKey) throws -> Bool {
        try session.scalar("""
            SELECT 1 FROM synthetic_images WHERE prompt_id = \(key.promptID) AND generator_id = \(key.generatorID)
            AND seed = \(key.seed) AND steps = \(key.steps) AND guidance = \(key.guidance) AND width = \(key.width) AND height = \(key.height)
            """, as: Int.self) != nil
    }

    func generators() throws -> [GeneratorRecord] {
        try session.rows("SELECT id, name, version, params, backend FROM generators ORDER BY id").map {
            GeneratorRecord(id: try $0.value("id"), name: try $0.value("name"), version: try $0.value("version"),
                            params: try $0.value("params"), backend: try $0.value("backend"))
        }
    }

    func syntheticImages() throws -> [SyntheticRecord] {
        var images: [SyntheticRecord] = []
        try session.forEachRow("""
            SELECT s.id, s.blob_id, s.prompt_id, s.generator_id, s.seed, s.steps, s.guidance, s.width, s.height, s.params, s.seconds,
                   b.digest
            FROM synthetic_images s JOIN blobs b ON b.id = s.blob_id ORDER BY s.id
            """) {
            images.append(SyntheticRecord(id: try $0.value("id"), digest: try $0.digest("digest"), row: SyntheticRow(
                blobID: try $0.value("blob_id"), promptID: try $0.value("prompt_id"), generatorID: try $0.value("generator_id"),
                seed: try $0.value("seed"), steps: try $0.value("steps"), guidance: try $0.value("guidance"),
                width: try $0.value("width"), height: try $0.value("height"), params: try $0.value("params"),
                seconds: try $0.value("seconds"))))
        }
        return images
    }

    func count(of datasetID: Int64, strategy: String?) throws -> Int {
        try session.scalar("""
            SELECT count(*) FROM synthetic_images s JOIN prompts p ON p.id = s.prompt_id
            WHERE p.dataset_id = \(datasetID) AND (\(strategy)::text IS NULL OR p.strategy = \(strategy))
            """, as: Int.self) ?? 0
    }
}

struct PostgresSyntheticReader: PostgresSyntheticQueries {
    let session: PostgresSession
}

struct PostgresSyntheticWriter: PostgresSyntheticQueries, SyntheticWriting {
    let session: PostgresSession

    func ensureGenerator(name: String, version: String, params: String, backend: String) throws -> Int64 {
        try PostgresRows.ensure(
            session, find: "SELECT id FROM generators WHERE name = \(name) AND version = \(version) AND params = \(params)",
            insert: """
                INSERT INTO generators (name, version, params, backend) VALUES (\(name), \(version), \(params), \(backend))
                ON CONFLICT (name, version, params) DO NOTHING RETURNING id
                """)
    }

    func putSynthetic(_ image: SyntheticRow) throws -> Bool {
        try session.execute("""
            INSERT INTO synthetic_images (blob_id, prompt_id, generator_id, seed, steps, guidance, width, height, params, seconds)
            VALUES (\(image.blobID), \(image.promptID), \(image.generatorID), \(image.seed), \(image.steps), \(image.guidance),
                    \(image.width), \(image.height), \(image.params), \(image.seconds))
            ON CONFLICT (prompt_id, generator_id, seed, steps, guidance, width, height) DO NOTHING
            """) > 0
    }
}
