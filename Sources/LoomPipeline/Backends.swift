import Foundation
import LoomStore

/// One real image handed to a captioner: its catalog id and its encoded bytes.
public struct CaptionInput: Sendable {
    public var realImageID: Int64
    public var bytes: [UInt8]
    public var mediaType: String

    public init(realImageID: Int64, bytes: [UInt8], mediaType: String) {
        self.realImageID = realImageID
        self.bytes = bytes
        self.mediaType = mediaType
    }
}

/// Something that writes a caption for each image of a batch (`builtin:stats`, a `process:`
/// worker such as tools/workers/blip2_captioner.py, or an `http:` OpenAI-compatible server).
///
/// A captioner is identified in the catalog by ``name`` plus ``params``: a different model,
/// prompt or decoding setting is a different captioner, so its captions are stored beside the
/// others rather than over them.
public protocol Captioner {
    var name: String { get }
    var version: String { get }
    /// Settings that change the output (the version is added to them in the catalog).
    var params: [String: String] { get }
    /// The spec it came from (`builtin:stats`), recorded in `captioners.backend`.
    var backend: String { get }
    /// One result per input, in order: the caption or why there is none.
    func caption(_ batch: [CaptionInput]) -> [Result<String, any Error>]
}

/// One image to make: the prompt text and every setting that decides the pixels.
public struct GenerationRequest: Sendable, Hashable {
    public var promptID: Int64
    public var prompt: String
    public var seed: Int64
    public var steps: Int
    public var guidance: Double
    public var width: Int
    public var height: Int

    public init(promptID: Int64, prompt: String, seed: Int64, steps: Int, guidance: Double, width: Int, height: Int) {
        self.promptID = promptID
        self.prompt = prompt
        self.seed = seed
        self.steps = steps
        self.guidance = guidance
        self.width = width
        self.height = height
    }
}

/// An encoded image a generator made.
public struct GeneratedImage: Sendable {
    public var bytes: [UInt8]
    public var mediaType: String
    /// Time the model took for this image, when known.
    public var seconds: Double?

    public init(bytes: [UInt8], mediaType: String, seconds: Double? = nil) {
        self.bytes = bytes
        self.mediaType = mediaType
        self.seconds = seconds
    }
}

/// What requests a generator can serve, as its backend declares them (a `process:` worker in
/// its handshake's `constraints`). Loom checks a run's settings against them before any job.
public struct GeneratorConstraints: Sendable, Equatable {
    /// Width and height must be multiples of this (Stable Diffusion: 8).
    public var sizeMultiple = 1

    public init(sizeMultiple: Int = 1) {
        self.sizeMultiple = sizeMultiple
    }
}

/// Something that renders an image per request (`builtin:procedural`, a `process:` worker such
/// as tools/workers/sd_generator.py, or an `http:` txt2img server). Identified by name, version, params.
public protocol Generator {
    var name: String { get }
    var version: String { get }
    var params: [String: String] { get }
    var backend: String { get }
    /// What it can make; none by default.
    var constraints: GeneratorConstraints { get }
    /// One result per request, in order; a failure affects only its own request.
    func generate(_ batch: [GenerationRequest]) -> [Result<GeneratedImage, any Error>]
}

extension Generator {
    public var constraints: GeneratorConstraints { GeneratorConstraints() }
}

/// Makes backends from a `--backend` spec (`kind:rest`).
public enum Backends {
    public static let captionerKinds = ["builtin:stats", "process:CMD", "http:URL (OpenAI-compatible chat/completions)"]
    public static let generatorKinds = ["builtin:procedural", "process:CMD", "http:URL (AUTOMATIC1111 txt2img)"]

    /// `python`: the interpreter for a `process:` command that starts with python3 / python
    /// (`--python`; see ``WorkerPython`` for the other places it is looked for).
    public static func captioner(_ spec: String, python: String? = nil) throws -> any Captioner {
        try checkPython(python, spec: spec)
        if spec == "builtin:stats" { return try StatsCaptioner() }
        if spec.hasPrefix("process:") {
            return try ProcessBackend.captioner(command: String(spec.dropFirst("process:".count)), python: python)
        }
        if spec.hasPrefix("http:") { return try HTTPBackend.captioner(url: String(spec.dropFirst("http:".count))) }
        throw unknown(spec, role: "captioner", available: captionerKinds)
    }

    public static func generator(_ spec: String, python: String? = nil) throws -> any Generator {
        try checkPython(python, spec: spec)
        if spec == "builtin:procedural" { return try ProceduralGenerator() }
        if spec.hasPrefix("process:") {
            return try ProcessBackend.generator(command: String(spec.dropFirst("process:".count)), python: python)
        }
        if spec.hasPrefix("http:") { return try HTTPBackend.generator(url: String(spec.dropFirst("http:".count))) }
        throw unknown(spec, role: "generator", available: generatorKinds)
    }

    static func checkPython(_ python: String?, spec: String) throws {
        guard let python, !python.isEmpty, !spec.hasPrefix("process:") else { return }
        throw PipelineError(.invalidInput, "--python \(python) applies to process: backends only, not \(spec)")
    }

    static func unknown(_ spec: String, role: String, available: [String]) -> PipelineError {
        PipelineError(.invalidInput, "unknown \(role) backend \"\(spec)\"; available: \(available.joined(separator: ", ")) (builtin: ones are offline stand-ins, not real models)")
    }
}
