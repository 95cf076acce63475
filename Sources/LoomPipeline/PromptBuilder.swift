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
        try writer.transaction { tx in
            let datasetID = try tx.datasets.pipelineDatasetID(dataset)
            let classes = try tx.datasets.classes(of: datasetID)
            let nameOf = Dictionary(uniqueKeysWithValues: classes.map { ($0.id, classNames[ExactName($0.wnid)] ?? $0.promptName) })
            func add(classID: Int64, captionID: Int64?, caption: String?) throws {
                let full = strategy.render(className: nameOf[classID] ?? "", caption: caption)
                let cut = PromptLength.cut(full)
                let prompt = PromptRow(datasetID: datasetID, classID: classID, captionID: captionID, strategy: strategy.name,
                                       template: strategy.template, text: cut.text, tokens: cut.tokens, tokenRule: PromptLength.rule,
                                       truncated: cut.truncated, fullText: cut.truncated ? full : nil)
                if try tx.prompts.insertPrompt(prompt) {
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
            let chosen = try chooseCaptioner(captioner, among: try tx.captions.captioners(of: datasetID), dataset: dataset)
            try tx.captions.forEachCaption(of: datasetID, captioner: chosen, split: split) { caption in
                try add(classID: caption.classID, captionID: caption.id, caption: caption.text)
            }
        }
        return summary
    }

    /// The captioner whose captions to use: the one asked for, or the only one there is.
    static func chooseCaptioner(_ captioner: String?, among captioners: [String], dataset: String) throws -> String {
        guard !captioners.isEmpty else {
            throw PipelineError(.notFound, "dataset \"\(dataset)\" has no captions yet: run `loom caption` or `loom caption import` first")
        }
        if let captioner {
            guard captioners.contains(captioner) else {
                throw PipelineError(.notFound, "no captions by \"\(captioner)\" in \(dataset) (captioners: \(captioners.joined(separator: ", ")))")
            }
            return captioner
        }
        guard captioners.count == 1 else {
            throw PipelineError(.invalidInput, "\(dataset) has captions from several captioners (\(captioners.joined(separator: ", "))): choose one with --captioner")
        }
        return captioners[0]
    }
}
