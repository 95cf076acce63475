internal import NIOCore
internal import PostgresNIO

protocol PostgresCaptionQueries: CaptionReading, PostgresRepository {}

extension PostgresCaptionQueries {
    func captionerID(name: String, params: String) throws -> Int64? {
        try session.scalar("SELECT id FROM captioners WHERE name = \(name) AND params = \(params)", as: Int64.self)
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
}

protocol PostgresSyntheticQueries: SyntheticReading, PostgresRepository {}

extension PostgresSyntheticQueries {
    func generatorID(name: String, version: String, params: String) throws -> Int64? {
        try session.scalar("SELECT id FROM generators WHERE name = \(name) AND version = \(version) AND params = \(params)",
                           as: Int64.self)
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

    func putSynthetic(_ image: SyntheticRow) throws {
        try session.execute("""
            INSERT INTO synthetic_images (blob_id, prompt_id, generator_id, seed, steps, guidance, width, height, params, seconds)
            VALUES (\(image.blobID), \(image.promptID), \(image.generatorID), \(image.seed), \(image.steps), \(image.guidance),
                    \(image.width), \(image.height), \(image.params), \(image.seconds))
            ON CONFLICT (prompt_id, generator_id, seed, steps, guidance, width, height) DO NOTHING
            """)
    }
}
