import GRDB

/// What the catalog remembers of the backends that made its captions and images, and what is
/// still missing under one of them: lets `loom caption` / `loom generate` answer a re-run that
/// has nothing to do without starting (and loading) a model.
public enum BackendHistory {
    /// A captioner or generator row.
    public struct Identity: Sendable, Equatable {
        public var id: Int64
        public var name: String
        /// Generators only (a captioner's version is inside its params).
        public var version: String
        /// JSON object, keys sorted, values strings.
        public var params: String
        /// When the row was first written, `YYYY-MM-DDTHH:MM:SS.sssZ` (UTC).
        public var createdAt: String
    }

    /// The generator most recently first recorded for exactly this `--backend` spec.
    public static func latestGenerator(_ db: Database, backend: String) throws -> Identity? {
        try Row.fetchOne(db, sql: """
            SELECT id, name, version, params, created_at FROM generators WHERE backend = ? ORDER BY id DESC LIMIT 1
            """, arguments: [backend]).map(identity)
    }

    /// The captioner most recently first recorded for exactly this `--backend` spec.
    public static func latestCaptioner(_ db: Database, backend: String) throws -> Identity? {
        try Row.fetchOne(db, sql: """
            SELECT id, name, '' AS version, params, created_at FROM captioners WHERE backend = ? ORDER BY id DESC LIMIT 1
            """, arguments: [backend]).map(identity)
    }

    /// The ids of a dataset's prompts of one strategy, in id order.
    public static func promptIDs(_ db: Database, datasetID: Int64, strategy: String) throws -> [Int64] {
        try Int64.fetchAll(db, sql: "SELECT id FROM prompts WHERE dataset_id = ? AND strategy = ? ORDER BY id",
                           arguments: [datasetID, strategy])
    }

    /// One synthetic image a run wants: its prompt and seed (the settings are the run's).
    public struct WantedImage: Sendable, Hashable {
        public var promptID: Int64
        public var seed: Int64

        public init(promptID: Int64, seed: Int64) {
            self.promptID = promptID
            self.seed = seed
        }
    }

    /// How many of `wanted` the generator has not made with these settings.
    public static func missingSyntheticImages(_ db: Database, generatorID: Int64, wanted: [WantedImage], steps: Int,
                                              guidance: Double, width: Int, height: Int) throws -> Int {
        let exists = try db.cachedStatement(sql: """
            SELECT 1 FROM synthetic_images WHERE prompt_id = ? AND generator_id = ? AND seed = ? AND steps = ?
            AND guidance = ? AND width = ? AND height = ?
            """)
        var missing = 0
        for image in wanted where try Bool.fetchOne(exists, arguments: [image.promptID, generatorID, image.seed, steps,
                                                                         guidance, width, height]) != true {
            missing += 1
        }
        return missing
    }

    /// How many real images of the dataset (of one split, if given) have no caption from the
    /// captioner; nil when the split does not exist.
    public static func uncaptionedImages(_ db: Database, datasetID: Int64, split: String?, captionerID: Int64) throws -> Int? {
        var sql = """
            SELECT COUNT(*) FROM real_images r JOIN splits s ON s.id = r.split_id
            WHERE s.dataset_id = ? AND NOT EXISTS (SELECT 1 FROM captions c WHERE c.real_image_id = r.id AND c.captioner_id = ?)
            """
        var arguments: StatementArguments = [datasetID, captionerID]
        if let split {
            guard try DatasetCatalog.splitID(db, datasetID: datasetID, name: split) != nil else { return nil }
            sql += " AND s.name = ?"
            arguments += [split]
        }
        return try Int.fetchOne(db, sql: sql, arguments: arguments) ?? 0
    }

    private static func identity(_ row: Row) -> Identity {
        Identity(id: row["id"], name: row["name"], version: row["version"], params: row["params"], createdAt: row["created_at"])
    }
}
