/// Captioners and captions, prompts, generators and synthetic images: the pipeline's rows.
/// `params` are JSON text with sorted keys, compared byte for byte.

public struct CaptionRecord: Hashable, Sendable {
    public var id: Int64
    public var realImageID: Int64
    public var captionerID: Int64
    public var text: String
}

/// A captioner or generator row as it was first recorded, for answering a re-run from the catalog.
public struct BackendIdentity: Hashable, Sendable {
    public var id: Int64
    public var name: String
    /// Generators only (a captioner's version is inside its params).
    public var version: String
    /// JSON object, keys sorted, values strings.
    public var params: String
    /// When the row was first written, `YYYY-MM-DDTHH:MM:SS.sssZ` (UTC).
    public var createdAt: String
}

/// A real image of a dataset as `loom caption` sees it: what to send, and whether this
/// captioner has captioned it already.
public struct CaptionTarget: Hashable, Sendable {
    public var realImageID: Int64
    public var path: String
    public var digest: Digest
    public var mediaType: String
    public var captioned: Bool
}

/// A caption with what `loom prompts` needs of its image.
public struct DatasetCaption: Hashable, Sendable {
    public var id: Int64
    public var text: String
    public var classID: Int64
}

/// A caption with its image and captioner, the way a person checks what a run stored.
public struct CaptionDetail: Hashable, Sendable {
    public var id: Int64
    public var realImageID: Int64
    /// The image's path in its split (as `loom ls` prints it).
    public var path: String
    /// The image's bytes.
    public var digest: Digest
    public var text: String
    public var seconds: Double?
    public var captioner: String
    public var captionerParams: String
    public var captionerBackend: String
}

public protocol CaptionReading {
    func captionerID(name: String, params: String) throws -> Int64?
    /// The captioner most recently first recorded for exactly this `--backend` spec.
    func latestCaptioner(backend: String) throws -> BackendIdentity?
    /// How many captioners there are.
    func captionerCount() throws -> Int
    /// Names of the captioners that captioned images of a dataset, sorted.
    func captioners(of datasetID: Int64) throws -> [String]
    func captions(of realImageID: Int64) throws -> [CaptionRecord]
    func count(of datasetID: Int64) throws -> Int
    /// The text of a real image's caption by a captioner, if it has one.
    func caption(of realImageID: Int64, by captionerID: Int64) throws -> String?
    /// Every real image of a dataset (of one split, if given) in id order, each saying whether
    /// the captioner has captioned it.
    func captionTargets(of datasetID: Int64, splitID: Int64?, captionerID: Int64) throws -> [CaptionTarget]
    /// How many real images of a dataset (of one split, if given) the captioner has not captioned.
    func uncaptionedCount(of datasetID: Int64, splitID: Int64?, captionerID: Int64) throws -> Int
    /// Ids of the dataset's real images at `path` (one per split that has it), in id order.
    func realImageIDs(of datasetID: Int64, path: String) throws -> [Int64]
    /// Ids of the dataset's real images with these bytes, in id order.
    func realImageIDs(of datasetID: Int64, digest: Digest) throws -> [Int64]
    /// Streams the captions of a dataset by one captioner (of one split's images, if given) in id order.
    func forEachCaption(of datasetID: Int64, captioner: String, split: String?, _ body: (DatasetCaption) throws -> Void) throws
    /// Every caption of a dataset's images, or of all datasets, in id order.
    func captionDetails(of datasetID: Int64?) throws -> [CaptionDetail]
}

public protocol CaptionWriting: CaptionReading {
    func ensureCaptioner(name: String, params: String, backend: String) throws -> Int64
    /// Records (or replaces) the caption of a real image by a captioner.
    @discardableResult
    func putCaption(realImageID: Int64, captionerID: Int64, text: String, seconds: Double?) throws -> Int64
    /// Removes a caption (a later `loom caption` run makes it again); `not-found` when there is none.
    func removeCaption(id: Int64) throws
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

/// A stored prompt.
public struct PromptRecord: Hashable, Sendable {
    public var id: Int64
    public var row: PromptRow
}

public protocol PromptReading {
    /// Prompts of a dataset, of one strategy or all.
    func count(of datasetID: Int64, strategy: String?) throws -> Int
    /// Prompts of a dataset, of one strategy or all, in id order.
    func prompts(of datasetID: Int64, strategy: String?) throws -> [PromptRecord]
    /// Prompts of a strategy made from captions of images outside `split`: what would carry
    /// those images' content into a model trained on the strategy's synthetic images.
    func countFromCaptions(of datasetID: Int64, strategy: String, outside split: String) throws -> Int
}

public protocol PromptWriting: PromptReading {
    /// The prompt's id, inserting it when (strategy, template, class, caption) is new.
    func ensurePrompt(_ prompt: PromptRow) throws -> Int64
    /// Adds the prompt unless one with its (strategy, template, class, caption) is there already,
    /// which is left as it is; true when it was added.
    func insertPrompt(_ prompt: PromptRow) throws -> Bool
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

/// What makes a synthetic image the same image: its prompt, generator, seed and sampling settings.
public struct SyntheticKey: Hashable, Sendable {
    public var promptID: Int64
    public var generatorID: Int64
    public var seed: Int64
    public var steps: Int
    public var guidance: Double
    public var width: Int
    public var height: Int
    public init(promptID: Int64, generatorID: Int64, seed: Int64, steps: Int, guidance: Double, width: Int, height: Int) {
        self.promptID = promptID
        self.generatorID = generatorID
        self.seed = seed
        self.steps = steps
        self.guidance = guidance
        self.width = width
        self.height = height
    }
}

/// A stored synthetic image with its blob's digest.
public struct SyntheticRecord: Hashable, Sendable {
    public var id: Int64
    public var digest: Digest
    public var row: SyntheticRow
}

/// A generator row whole.
public struct GeneratorRecord: Hashable, Sendable {
    public var id: Int64
    public var name: String
    public var version: String
    public var params: String
    public var backend: String
}

public protocol SyntheticReading {
    func generatorID(name: String, version: String, params: String) throws -> Int64?
    /// The generator most recently first recorded for exactly this `--backend` spec.
    func latestGenerator(backend: String) throws -> BackendIdentity?
    /// Whether the image `key` names has been made.
    func contains(_ key: SyntheticKey) throws -> Bool
    /// Every generator, in id order.
    func generators() throws -> [GeneratorRecord]
    /// Every synthetic image, in id order.
    func syntheticImages() throws -> [SyntheticRecord]
    /// Synthetic images of a dataset, of one strategy or all.
    func count(of datasetID: Int64, strategy: String?) throws -> Int
}

public protocol SyntheticWriting: SyntheticReading {
    func ensureGenerator(name: String, version: String, params: String, backend: String) throws -> Int64
    /// Records a synthetic image; the same (prompt, generator, sampling settings) again is a no-op.
    /// - Returns: true when the row was added.
    @discardableResult
    func putSynthetic(_ image: SyntheticRow) throws -> Bool
}
