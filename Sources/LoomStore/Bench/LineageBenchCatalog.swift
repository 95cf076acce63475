internal import GRDB

/// The scratch catalog `loom bench lineage` measures: catalog rows only (fake blob rows pointing
/// into a shard that does not exist), bulk-inserted with prepared statements in large
/// transactions. Not for stores anyone keeps: it writes without the writer lock or shard files.
public enum LineageBenchCatalog {
    public struct Prompt: Sendable {
        public var strategy: String
        public var template: String
        public var text: String
        public var tokens: Int
        public init(strategy: String, template: String, text: String, tokens: Int) {
            self.strategy = strategy
            self.template = template
            self.text = text
            self.tokens = tokens
        }
    }

    /// A real image with its one caption and the prompts made from it.
    public struct RealImage: Sendable {
        public var digest: Digest
        public var classIndex: Int
        public var caption: String
        public var prompts: [Prompt]
        public init(digest: Digest, classIndex: Int, caption: String, prompts: [Prompt]) {
            self.digest = digest
            self.classIndex = classIndex
            self.caption = caption
            self.prompts = prompts
        }
    }

    /// Fills a new catalog at `layout` with one dataset of `classes` classes, the real images,
    /// and `synthetic` images, `perPrompt` per prompt in prompt order. Leaves the WAL checkpointed.
    public static func build(_ layout: StoreLayout, classes: Int, real: [RealImage], synthetic: [Digest], perPrompt: Int) throws {
        let store = try Store(layout, access: .readWrite)
        let pool = try store.catalog.pool
        try pool.writeWithoutTransaction { db in try db.execute(sql: "PRAGMA cache_size = -524288") }
        var promptIDs: [Int64] = []
        var generatorID: Int64 = 0, shardID: Int64 = 0
        try pool.write { db in
            try db.execute(sql: "INSERT INTO shards (name, format_version, committed_bytes) VALUES ('bench-lineage-fake', 1, 0)")
            shardID = db.lastInsertedRowID
            try db.execute(sql: "INSERT INTO datasets (name) VALUES ('bench')")
            let datasetID = db.lastInsertedRowID
            try db.execute(sql: "INSERT INTO splits (dataset_id, name) VALUES (?, 'train')", arguments: [datasetID])
            let splitID = db.lastInsertedRowID
            var classIDs: [Int64] = []
            for c in 0..<classes {
                try db.execute(sql: "INSERT INTO classes (dataset_id, label, wnid, name, prompt_name) VALUES (?, ?, ?, ?, ?)",
                               arguments: [datasetID, c, wnid(c), "class \(c)", "class \(c)"])
                classIDs.append(db.lastInsertedRowID)
            }
            try db.execute(sql: "INSERT INTO captioners (name, backend) VALUES ('bench-captioner', 'import')")
            let captionerID = db.lastInsertedRowID
            try db.execute(sql: "INSERT INTO generators (name, version, backend) VALUES ('bench-generator', '1', 'builtin:bench')")
            generatorID = db.lastInsertedRowID
            let blob = try db.makeStatement(sql: """
                INSERT INTO blobs (digest, shard_id, offset, stored_size, raw_size, codec, media_type) VALUES (?, ?, 0, 0, 0, 'raw', ?)
                """)
            let realImage = try db.makeStatement(sql: """
                INSERT INTO real_images (split_id, class_id, blob_id, path, name, width, height, format, color_space, file_size, file_mtime_ns)
                VALUES (?, ?, ?, ?, ?, 500, 375, 'jpeg', 'rgb', 0, 0)
                """)
            let caption = try db.makeStatement(sql: "INSERT INTO captions (real_image_id, captioner_id, text) VALUES (?, ?, ?)")
            let prompt = try db.makeStatement(sql: """
                INSERT INTO prompts (dataset_id, class_id, caption_id, strategy, template, text, tokens, token_rule)
                VALUES (?, ?, ?, ?, ?, ?, ?, 'clip-words-v1')
                """)
            for (i, image) in real.enumerated() {
                try blob.execute(arguments: [image.digest.databaseValue, shardID, "image/jpeg"])
                try realImage.execute(arguments: [splitID, classIDs[image.classIndex], db.lastInsertedRowID,
                                                  "train/\(wnid(image.classIndex))/\(i).JPEG", "\(i).JPEG"])
                try caption.execute(arguments: [db.lastInsertedRowID, captionerID, image.caption])
                let captionID = db.lastInsertedRowID
                for p in image.prompts {
                    try prompt.execute(arguments: [datasetID, classIDs[image.classIndex], captionID, p.strategy, p.template, p.text, p.tokens])
                    promptIDs.append(db.lastInsertedRowID)
                }
            }
        }
        // Synthetic rows in transactions of 200k.
        var made = 0
        while made < synthetic.count {
            let end = min(synthetic.count, made + 200_000)
            try pool.write { db in
                let blob = try db.makeStatement(sql: """
                    INSERT INTO blobs (digest, shard_id, offset, stored_size, raw_size, codec, media_type) VALUES (?, ?, 0, 0, 0, 'raw', 'image/png')
                    """)
                let image = try db.makeStatement(sql: """
                    INSERT INTO synthetic_images (blob_id, prompt_id, generator_id, seed, steps, guidance, width, height)
                    VALUES (?, ?, ?, ?, 30, 7.5, 512, 512)
                    """)
                for n in made..<end {
                    try blob.execute(arguments: [synthetic[n].databaseValue, shardID])
                    try image.execute(arguments: [db.lastInsertedRowID, promptIDs[n / perPrompt], generatorID, n % perPrompt])
                }
            }
            made = end
        }
        try pool.writeWithoutTransaction { db in try db.execute(sql: "PRAGMA wal_checkpoint(TRUNCATE)") }
    }

    /// The folder name (wnid) of class `index`.
    public static func wnid(_ index: Int) -> String {
        let digits = String(index)
        return "n" + String(repeating: "0", count: max(0, 8 - digits.count)) + digits
    }

    /// EXPLAIN QUERY PLAN of the lineage statements, to show which indexes they use.
    public static func queryPlans(_ store: Store) throws -> [String: [String]] {
        try store.catalog.read { db in
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
    }
}
