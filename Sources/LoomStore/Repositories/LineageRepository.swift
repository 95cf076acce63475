/// One synthetic image with where it came from: a row of `v_lineage`.
public struct LineageRecord: Hashable, Sendable {
    public var syntheticID: Int64
    public var digest: Digest
    public var strategy: String
    public var template: String
    public var prompt: String
    public var truncated: Bool
    public var fullText: String?
    public var caption: String?
    public var captioner: String?
    public var realDigest: Digest?
    public var realPath: String?
    public var realSplit: String?
    public var classWnid: String
    public var label: Int
    public var className: String
    public var dataset: String
    public var generator: String
    public var generatorVersion: String
    public var seed: Int64
    public var steps: Int
    public var guidance: Double
    public var width: Int
    public var height: Int
}

/// Filters of `loom synthetic`, combined with AND; nil is any.
public struct LineageFilter: Hashable, Sendable {
    /// `text` as a LIKE pattern matching it anywhere, `%`, `_` and `\` escaped (ESCAPE '\').
    public static func containsPattern(_ text: String) -> String {
        var pattern = "%"
        for character in text {
            if character == "%" || character == "_" || character == "\\" { pattern.append("\\") }
            pattern.append(character)
        }
        pattern.append("%")
        return pattern
    }

    public var dataset: String?
    /// Case-insensitive substring of the caption (ASCII case folding).
    public var captionContains: String?
    public var strategy: String?
    /// wnid, display name or prompt name.
    public var className: String?
    public var generator: String?
    public init(dataset: String? = nil, captionContains: String? = nil, strategy: String? = nil,
                className: String? = nil, generator: String? = nil) {
        self.dataset = dataset
        self.captionContains = captionContains
        self.strategy = strategy
        self.className = className
        self.generator = generator
    }
}

/// A synthetic image made from a prompt (the real -> derived direction).
public struct DerivedSynthetic: Hashable, Sendable {
    public var digest: Digest
    public var seed: Int64
    public var generator: String
    public var generatorVersion: String
    public var steps: Int
    public var guidance: Double
    public var width: Int
    public var height: Int
}

/// A prompt made from a caption, with the synthetic images made from it in generation order.
public struct DerivedPromptRecord: Hashable, Sendable {
    public var text: String
    public var strategy: String
    public var template: String
    public var truncated: Bool
    public var synthetic: [DerivedSynthetic]
}

/// A caption of a real image, with its prompts in (strategy, template) order.
public struct DerivedCaptionRecord: Hashable, Sendable {
    public var captioner: String
    public var text: String
    public var prompts: [DerivedPromptRecord]
}

/// One real-image row with a blob's bytes, and everything made from it.
public struct RealLineageRecord: Hashable, Sendable {
    public var dataset: String
    public var split: String
    public var path: String
    public var classWnid: String
    public var label: Int
    public var className: String
    /// In (captioner, id) order.
    public var captions: [DerivedCaptionRecord]
}

public protocol LineageReading {
    /// Every real-image row whose bytes are `digest`, in (dataset, split, path) order, with what
    /// was made from each; empty when the blob is no real image.
    func real(_ digest: Digest) throws -> [RealLineageRecord]
    /// The lineage of a synthetic image's blob (the first when the bytes were generated twice).
    func synthetic(_ digest: Digest) throws -> LineageRecord?
    /// Streams the synthetic images matching `filter` in generation order; `not-found` for an unknown dataset.
    func forEachSynthetic(_ filter: LineageFilter, _ body: (LineageRecord) throws -> Void) throws
}
