import Foundation
import LoomStore

/// `loom lineage` and `loom synthetic`: where a synthetic image came from, and what a real image
/// became. JSON keys are part of the CLI contract.
///
/// Both directions run on indexes: a synthetic digest goes blobs(digest) -> synthetic_by_blob ->
/// primary keys; a real digest goes blobs(digest) -> real_images_by_blob -> captions(real_image_id,
/// captioner_id) -> prompts(caption_id) -> synthetic_images(prompt_id, ...).
public enum Lineage {
    public struct PromptInfo: Codable, Sendable, Hashable {
        public var text: String
        public var strategy: String
        public var template: String
        public var truncated: Bool
        /// The uncut text, when the prompt was cut to the token limit.
        public var fullText: String?

        enum CodingKeys: String, CodingKey {
            case text, strategy, template, truncated
            case fullText = "full_text"
        }
    }

    public struct CaptionInfo: Codable, Sendable, Hashable {
        public var text: String
        public var captioner: String
    }

    public struct RealInfo: Codable, Sendable, Hashable {
        public var digest: String
        public var path: String
        public var split: String
    }

    public struct ClassInfo: Codable, Sendable, Hashable {
        public var wnid: String
        public var label: Int
        public var name: String
    }

    public struct GeneratorInfo: Codable, Sendable, Hashable {
        public var name: String
        public var version: String
    }

    /// A synthetic image traced back to its prompt, caption, real image and class.
    public struct SyntheticLineage: Codable, Sendable, Hashable {
        public var kind = "synthetic"
        public var digest: String
        public var prompt: PromptInfo
        /// Nil for class strategies (the prompt came from the class name alone).
        public var caption: CaptionInfo?
        /// The real image the caption was made from (nil without a caption).
        public var real: RealInfo?
        public var `class`: ClassInfo
        public var dataset: String
        public var generator: GeneratorInfo
        public var seed: Int64
        public var steps: Int
        public var guidance: Double
        public var width: Int
        public var height: Int
    }

    /// One synthetic image made from a prompt (the real -> derived direction).
    public struct SyntheticRef: Codable, Sendable, Hashable {
        public var digest: String
        public var seed: Int64
        public var generator: String
        public var generatorVersion: String
        public var steps: Int
        public var guidance: Double
        public var width: Int
        public var height: Int

        enum CodingKeys: String, CodingKey {
            case digest, seed, generator, steps, guidance, width, height
            case generatorVersion = "generator_version"
        }
    }

    public struct DerivedPrompt: Codable, Sendable, Hashable {
        public var text: String
        public var strategy: String
        public var template: String
        public var truncated: Bool
        public var synthetic: [SyntheticRef]
    }

    public struct DerivedCaption: Codable, Sendable, Hashable {
        public var captioner: String
        public var text: String
        /// Which real image row the caption belongs to (the same bytes may be in several datasets).
        public var dataset: String
        public var path: String
        public var prompts: [DerivedPrompt]
    }

    public struct RealImageInfo: Codable, Sendable, Hashable {
        public var dataset: String
        public var split: String
        public var path: String
        public var `class`: ClassInfo
    }

    /// A real image with everything made from it.
    public struct RealLineage: Codable, Sendable, Hashable {
        public var kind = "real"
        public var digest: String
        /// Every real-image row with these bytes (usually one).
        public var images: [RealImageInfo]
        public var captions: [DerivedCaption]
    }

    public enum Result: Sendable, Hashable, Encodable {
        case synthetic(SyntheticLineage)
        case real(RealLineage)

        public func encode(to encoder: any Encoder) throws {
            switch self {
            case .synthetic(let value): try value.encode(to: encoder)
            case .real(let value): try value.encode(to: encoder)
            }
        }
    }

    /// The lineage of a digest given in full or as a unique prefix.
    /// - Throws: `StoreError` when no blob matches (or the prefix is ambiguous), `PipelineError`
    ///   (`not-found`) when the blob is neither a real nor a synthetic image.
    public static func lookup(_ store: Store, _ text: String) throws -> Result {
        try store.read { snapshot in try lookup(snapshot, digest: try snapshot.blobs.resolve(text)) }
    }

    /// The lineage of a full digest, from the catalog's lineage repository. A blob that is both
    /// (the same bytes ingested as real and produced by a generator) is reported as synthetic.
    public static func lookup(_ snapshot: any CatalogSnapshot, digest: Digest) throws -> Result {
        if let record = try snapshot.lineage.synthetic(digest) { return .synthetic(SyntheticLineage(record)) }
        let real = try snapshot.lineage.real(digest)
        if !real.isEmpty { return .real(RealLineage(digest: digest, real)) }
        // Neither: only now is it worth asking whether the blob is there at all.
        guard try snapshot.blobs.blob(digest) != nil else { throw StoreError(.notFound, "no blob with digest \(digest.hex)") }
        throw PipelineError(.notFound, "\(digest.hex) is in the store but is neither a real nor a synthetic image (e.g. a cached pixel blob)")
    }

    // MARK: - Listing synthetic images

    /// Which synthetic images `forEachSynthetic` streams (the catalog boundary's filter).
    public typealias Filter = LineageFilter

    /// One synthetic image as `loom synthetic --json` prints it.
    public struct SyntheticEntry: Codable, Sendable, Hashable {
        public var digest: String
        public var prompt: String
        public var strategy: String
        public var caption: String?
        public var captioner: String?
        public var realDigest: String?
        public var realPath: String?
        public var `class`: String
        public var label: Int
        public var dataset: String
        public var generator: String
        public var generatorVersion: String
        public var seed: Int64
        public var steps: Int
        public var guidance: Double
        public var width: Int
        public var height: Int

        enum CodingKeys: String, CodingKey {
            case digest, prompt, strategy, caption, captioner
            case realDigest = "real_digest"
            case realPath = "real_path"
            case `class`, label, dataset, generator
            case generatorVersion = "generator_version"
            case seed, steps, guidance, width, height
        }
    }

    /// `text` as a LIKE pattern matching it anywhere, with `%`, `_` and the escape character escaped (ESCAPE '\').
    public static func containsPattern(_ text: String) -> String { LineageFilter.containsPattern(text) }

    /// Streams the synthetic images matching `filter`, in insertion order (the catalog's lineage
    /// repository runs the query; this maps its records to `loom synthetic`'s lines).
    public static func forEachSynthetic(_ store: Store, filter: Filter, _ body: (SyntheticEntry) throws -> Void) throws {
        try store.read { snapshot in
            try snapshot.lineage.forEachSynthetic(filter) { record in
                try body(SyntheticEntry(
                    digest: record.digest.hex, prompt: record.prompt, strategy: record.strategy,
                    caption: record.caption, captioner: record.captioner, realDigest: record.realDigest?.hex,
                    realPath: record.realPath, class: record.classWnid, label: record.label, dataset: record.dataset,
                    generator: record.generator, generatorVersion: record.generatorVersion, seed: record.seed,
                    steps: record.steps, guidance: record.guidance, width: record.width, height: record.height))
            }
        }
    }
}

// Optional fields are written as null rather than left out, so every line has the same keys.
extension Lineage.SyntheticLineage {
    enum CodingKeys: String, CodingKey {
        case kind, digest, prompt, caption, real, `class`, dataset, generator, seed, steps, guidance, width, height
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(kind, forKey: .kind)
        try c.encode(digest, forKey: .digest)
        try c.encode(prompt, forKey: .prompt)
        try c.encode(caption, forKey: .caption)
        try c.encode(real, forKey: .real)
        try c.encode(`class`, forKey: .class)
        try c.encode(dataset, forKey: .dataset)
        try c.encode(generator, forKey: .generator)
        try c.encode(seed, forKey: .seed)
        try c.encode(steps, forKey: .steps)
        try c.encode(guidance, forKey: .guidance)
        try c.encode(width, forKey: .width)
        try c.encode(height, forKey: .height)
    }
}

extension Lineage.SyntheticEntry {
    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(digest, forKey: .digest)
        try c.encode(prompt, forKey: .prompt)
        try c.encode(strategy, forKey: .strategy)
        try c.encode(caption, forKey: .caption)
        try c.encode(captioner, forKey: .captioner)
        try c.encode(realDigest, forKey: .realDigest)
        try c.encode(realPath, forKey: .realPath)
        try c.encode(`class`, forKey: .class)
        try c.encode(label, forKey: .label)
        try c.encode(dataset, forKey: .dataset)
        try c.encode(generator, forKey: .generator)
        try c.encode(generatorVersion, forKey: .generatorVersion)
        try c.encode(seed, forKey: .seed)
        try c.encode(steps, forKey: .steps)
        try c.encode(guidance, forKey: .guidance)
        try c.encode(width, forKey: .width)
        try c.encode(height, forKey: .height)
    }
}

extension Lineage.SyntheticLineage {
    init(_ record: LineageRecord) {
        var real: Lineage.RealInfo?
        if let digest = record.realDigest, let path = record.realPath, let split = record.realSplit {
            real = Lineage.RealInfo(digest: digest.hex, path: path, split: split)
        }
        self.init(
            digest: record.digest.hex,
            prompt: Lineage.PromptInfo(text: record.prompt, strategy: record.strategy, template: record.template,
                                       truncated: record.truncated, fullText: record.fullText),
            caption: record.caption.map { Lineage.CaptionInfo(text: $0, captioner: record.captioner ?? "") }, real: real,
            class: Lineage.ClassInfo(wnid: record.classWnid, label: record.label, name: record.className),
            dataset: record.dataset, generator: Lineage.GeneratorInfo(name: record.generator, version: record.generatorVersion),
            seed: record.seed, steps: record.steps, guidance: record.guidance, width: record.width, height: record.height)
    }
}

extension Lineage.RealLineage {
    init(digest: Digest, _ records: [RealLineageRecord]) {
        self.init(digest: digest.hex, images: [], captions: [])
        for image in records {
            images.append(Lineage.RealImageInfo(
                dataset: image.dataset, split: image.split, path: image.path,
                class: Lineage.ClassInfo(wnid: image.classWnid, label: image.label, name: image.className)))
            for caption in image.captions {
                captions.append(Lineage.DerivedCaption(
                    captioner: caption.captioner, text: caption.text, dataset: image.dataset, path: image.path,
                    prompts: caption.prompts.map { prompt in
                        Lineage.DerivedPrompt(
                            text: prompt.text, strategy: prompt.strategy, template: prompt.template, truncated: prompt.truncated,
                            synthetic: prompt.synthetic.map { s in
                                Lineage.SyntheticRef(digest: s.digest.hex, seed: s.seed, generator: s.generator,
                                                     generatorVersion: s.generatorVersion, steps: s.steps, guidance: s.guidance,
                                                     width: s.width, height: s.height)
                            })
                    }))
            }
        }
    }
}
