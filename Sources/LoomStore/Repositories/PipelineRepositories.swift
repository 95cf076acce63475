/// Captioners and captions, prompts, generators and synthetic images: the pipeline's rows.
/// `params` are JSON text with sorted keys, compared byte for byte.

public struct CaptionRecord: Hashable, Sendable {
    public var id: Int64
    public var realImageID: Int64
    public var captionerID: Int64
    public var text: String
}

public protocol CaptionReading {
    func captionerID(name: String, params: String) throws -> Int64?
    /// Names of the captioners that captioned images of a dataset, sorted.
    func captioners(of datasetID: Int64) throws -> [String]
    func captions(of realImageID: Int64) throws -> [CaptionRecord]
    func count(of datasetID: Int64) throws -> Int
}

public protocol CaptionWriting: CaptionReading {
    func ensureCaptioner(name: String, params: String, backend: String) throws -> Int64
    /// Records (or replaces) the caption of a real image by a captioner.
    @discardableResult
    func putCaption(realImageID: Int64, captionerID: Int64, text: String, seconds: Double?) throws -> Int64
}

/// A prompt to record; `captionID` is nil for class-only strategies.
public struct PromptRow: Hashable, Sendable {
    public var datasetID: Int64
    public var classID: Int64
    public var captionID: Int64?
    public var strategy: String
    public var template: String
    public var text: String
    public var tokens: Int
    public var tokenRule: String
    public var truncated: Bool
    public var fullText: String?
    public init(datasetID: Int64, classID: Int64, captionID: Int64?, strategy: String, template: String, text: String,
                tokens: Int, tokenRule: String, truncated: Bool = false, fullText: String? = nil) {
        self.datasetID = datasetID
        self.classID = classID
        self.captionID = captionID
        self.strategy = strategy
        self.template = template
        self.text = text
        self.tokens = tokens
        self.tokenRule = tokenRule
        self.truncated = truncated
        self.fullText = fullText
    }
}

public protocol PromptReading {
    /// Prompts of a dataset, of one strategy or all.
    func count(of datasetID: Int64, strategy: String?) throws -> Int
    /// Prompts of a strategy made from captions of images outside `split`: what would carry
    /// those images' content into a model trained on the strategy's synthetic images.
    func countFromCaptions(of datasetID: Int64, strategy: String, outside split: String) throws -> Int
}

public protocol PromptWriting: PromptReading {
    /// The prompt's id, inserting it when (strategy, template, class, caption) is new.
    func ensurePrompt(_ prompt: PromptRow) throws -> Int64
}

/// A synthetic image to record.
public struct SyntheticRow: Hashable, Sendable {
    public var blobID: Int64
    public var promptID: Int64
    public var generatorID: Int64
    public var seed: Int64
    public var steps: Int
    public var guidance: Double
    public var width: Int
    public var height: Int
    public var params: String
    public var seconds: Double?
    public init(blobID: Int64, promptID: Int64, generatorID: Int64, seed: Int64, steps: Int, guidance: Double,
                width: Int, height: Int, params: String = "{}", seconds: Double? = nil) {
        self.blobID = blobID
        self.promptID = promptID
        self.generatorID = generatorID
        self.seed = seed
        self.steps = steps
        self.guidance = guidance
        self.width = width
        self.height = height
        self.params = params
        self.seconds = seconds
    }
}

public protocol SyntheticReading {
    func generatorID(name: String, version: String, params: String) throws -> Int64?
    /// Synthetic images of a dataset, of one strategy or all.
    func count(of datasetID: Int64, strategy: String?) throws -> Int
}

public protocol SyntheticWriting: SyntheticReading {
    func ensureGenerator(name: String, version: String, params: String, backend: String) throws -> Int64
    /// Records a synthetic image; the same (prompt, generator, sampling settings) again is a no-op.
    func putSynthetic(_ image: SyntheticRow) throws
}
