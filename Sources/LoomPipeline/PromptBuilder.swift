import GRDB
import LoomStore

/// `loom prompts`: makes the prompts of one strategy for a dataset.
///
/// Class strategies make one prompt per class; caption strategies one per caption (of one
/// captioner). Class names come from the catalog's prompt names (set at ingest from the class
/// names file) unless a map overrides them, which is how polysemous classes are disambiguated
/// ("crane" the bird against "crane" the machine). Re-running adds only missing prompts.
public enum PromptBuilder {
    public struct Summary: Codable, Sendable {
        public var strategy: String
        public var template: String
        public var created: Int
        public var existing: Int
        public var truncated: Int
        public var tokenRule: String

        enum CodingKeys: String, CodingKey {
            case strategy, template, created, existing, truncated
            case tokenRule = "token_rule"
        }
    }

    /// - Parameters:
    ///   - classNames: wnid -> prompt name, overriding the catalog's. Keyed by the wnid's exact bytes,
    ///     as the catalog keys classes, so ids that differ only in Unicode normalization stay apart.
    ///   - captioner: which captioner's captions (required for caption strategies when the dataset
    ///     has captions from several).
    ///   - split: use only captions of this split's images (an experiment keeps its validation
    ///     images' captions out of the training prompts).
    public static func run(writer: StoreWriter, dataset: String, strategy: PromptStrategy,
                           classNames: [ExactName: String] = [:], captioner: String? = nil, split: String? = nil) throws -> Summary {
        var summary = Summary(strategy: strategy.name, template: strategy.template, created: 0, existing: 0, truncated: 0,
                              tokenRule: PromptLength.rule)
        try writer.commit { db, _ in
            guard let datasetID = try DatasetCatalog.datasetID(db, name: dataset) else {
                throw PipelineError("no dataset named \"\(dataset)\"")
            }
            let classes = try DatasetCatalog.classes(db, datasetID: datasetID)
            let nameOf = Dictionary(uniqueKeysWithValues: classes.map { ($0.id, classNames[ExactName($0.wnid)] ?? $0.promptName) })
            let insert = try db.cachedStatement(sql: """
                INSERT INTO prompts (dataset_id, class_id, caption_id, strategy, template, text, tokens, token_rule, truncated, full_text)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                ON CONFLICT DO NOTHING
                """)
            func add(classID: Int64, captionID: Int64?, caption: String?) throws {
                let full = strategy.render(className: nameOf[classID] ?? "", caption: caption)
                let cut = PromptLength.cut(full)
                try insert.execute(arguments: [
                    datasetID, classID, captionID, strategy.name, strategy.template, cut.text, cut.tokens, PromptLength.rule,
                    cut.truncated, cut.truncated ? full : nil,
                ])
                if db.changesCount > 0 {
                    summary.created += 1
                    if cut.truncated { summary.truncated += 1 }
                } else {
                    summary.existing += 1
                }
            }
            guard strategy.usesCaption else {
                for c in classes { try add(classID: c.id, captionID: nil, caption: nil) }
                return
            }
            let captioners = try String.fetchAll(db, sql: """
                SELECT DISTINCT cr.name FROM captions c JOIN captioners cr ON cr.id = c.captioner_id
                JOIN real_images r ON r.id = c.real_image_id JOIN splits s ON s.id = r.split_id
                WHERE s.dataset_id = ? ORDER BY cr.name
                """, arguments: [datasetID])
            guard !captioners.isEmpty else {
                throw PipelineError("dataset \"\(dataset)\" has no captions yet: run `loom caption` or `loom caption import` first")
            }
            let chosen: String
            if let captioner {
                guard captioners.contains(captioner) else {
                    throw PipelineError("no captions by \"\(captioner)\" in \(dataset) (captioners: \(captioners.joined(separator: ", ")))")
                }
                chosen = captioner
            } else {
                guard captioners.count == 1 else {
                    throw PipelineError("\(dataset) has captions from several captioners (\(captioners.joined(separator: ", "))): choose one with --captioner")
                }
                chosen = captioners[0]
            }
            let rows = try Row.fetchCursor(db, sql: """
                SELECT c.id, c.text, r.class_id FROM captions c
                JOIN captioners cr ON cr.id = c.captioner_id
                JOIN real_images r ON r.id = c.real_image_id JOIN splits s ON s.id = r.split_id
                WHERE s.dataset_id = ? AND cr.name = ? AND (? IS NULL OR s.name = ?) ORDER BY c.id
                """, arguments: [datasetID, chosen, split, split])
            while let row = try rows.next() {
                try add(classID: row["class_id"], captionID: row["id"], caption: row["text"])
            }
        }
        return summary
    }
}
