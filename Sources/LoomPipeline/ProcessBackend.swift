import Foundation
import LoomStore

/// `process:CMD` backends: a worker process speaking JSON lines on its stdin and stdout.
///
/// `CMD` is a shell command line, run with `/bin/sh -c CMD` (so
/// `process:python3 tools/workers/blip2_captioner.py --model Salesforce/blip2-opt-2.7b` works).
/// The worker's stderr goes straight to Loom's stderr (model loading logs, progress bars).
///
/// Protocol, version 1 (see also `tools/workers/README.md`); every message is one line of JSON:
///
/// 1. Handshake. The worker's first line on stdout:
///    `{"protocol":"loom-worker","version":1,"role":"captioner"|"generator","name":"...","model_version":"...","params":{...}}`
///    `name`, `model_version` and `params` identify the backend in the catalog (captions and images
///    are attributed to them); `params` values may be strings, numbers or booleans (non-strings
///    are stored as their JSON text). A wrong protocol, version or role fails with the command named.
/// 2. Requests, one line per batch, each answered by exactly one line with the same `id`:
///    - captioner: `{"id":N,"images":[{"media_type":"image/jpeg","data":"<base64>"}, ...]}`
///      answer `{"id":N,"results":[{"caption":"..."} | {"error":"..."}, ...]}` (one per image, in order)
///    - generator: `{"id":N,"requests":[{"prompt":"...","seed":S,"steps":K,"guidance":G,"width":W,"height":H}, ...]}`
///      answer `{"id":N,"results":[{"media_type":"image/png","data":"<base64>","seconds":1.2} | {"error":"..."}, ...]}`
///    - either role may answer `{"id":N,"error":"..."}` to fail the whole batch (the worker stays up).
/// 3. End: Loom closes the worker's stdin; the worker should exit. It is killed if it has not
///    exited a few seconds later.
///
/// Failures: a batch not answered within the timeout, a worker that exits, or an answer that is not
/// JSON, has the wrong id or the wrong number of results fails every item of that batch and the
/// worker is killed (its whole process group); the next batch starts it again and re-checks the
/// handshake, which must name the same model. The stage's own retry logic re-sends failed items.
///
/// Timeouts (seconds): `LOOM_PROCESS_TIMEOUT` per batch (default 120 for captioners, 600 for
/// generators), `LOOM_PROCESS_START_TIMEOUT` for the handshake, which includes model loading and
/// downloads (default 1800).
///
/// A command whose program is `python3` or `python` runs under the interpreter ``WorkerPython``
/// finds (`--python`, `$LOOM_PYTHON`, the project venv), so the workers get their packages.
enum ProcessBackend {
    static func captioner(command: String, python: String? = nil) throws -> any Captioner {
        try ProcessCaptioner(command: command, launch: try launch(command, python: python), timeouts: .fromEnvironment(batchDefault: 120))
    }

    static func generator(command: String, python: String? = nil) throws -> any Generator {
        try ProcessGenerator(command: command, launch: try launch(command, python: python), timeouts: .fromEnvironment(batchDefault: 600))
    }

    static func launch(_ command: String, python: String?) throws -> String {
        try WorkerPython.resolve(command: command, explicit: python, environment: ProcessInfo.processInfo.environment,
                                 executable: Bundle.main.executableURL,
                                 currentDirectory: FileManager.default.currentDirectoryPath).command
    }
}

/// How long a worker may take.
struct ProcessTimeouts: Sendable {
    /// Seconds to answer one batch.
    var batch: Double
    /// Seconds to print the handshake after starting (model loading included).
    var start: Double

    static func fromEnvironment(batchDefault: Double) -> ProcessTimeouts {
        let environment = ProcessInfo.processInfo.environment
        func value(_ key: String) -> Double? {
            environment[key].flatMap(Double.init).flatMap { $0 > 0 ? $0 : nil }
        }
        return ProcessTimeouts(batch: value("LOOM_PROCESS_TIMEOUT") ?? batchDefault,
                               start: value("LOOM_PROCESS_START_TIMEOUT") ?? 1800)
    }
}

/// A `process:` captioner.
final class ProcessCaptioner: Captioner, RestartCounting {
    let name: String
    let version: String
    let params: [String: String]
    let backend: String
    let worker: ProcessWorker

    /// `backend`: the spec recorded in the catalog, when it is not `process:` + `command` (the
    /// `{device}` template of a `--devices` run, the same for every worker).
    init(command: String, launch: String? = nil, environment: [String: String] = [:], backend: String? = nil,
         timeouts: ProcessTimeouts) throws {
        worker = try ProcessWorker.starting(command: command, launch: launch, environment: environment, role: "captioner",
                                            timeouts: timeouts, others: Backends.captionerKinds)
        name = worker.identity.name
        version = worker.identity.version
        params = worker.identity.params
        self.backend = backend ?? "process:" + command
    }

    var restarts: Int { worker.restarts }

    func caption(_ batch: [CaptionInput]) -> [Result<String, any Error>] {
        guard !batch.isEmpty else { return [] }
        let images: [[String: Any]] = batch.map { ["media_type": $0.mediaType, "data": Data($0.bytes).base64EncodedString()] }
        return worker.exchange(["images": images], count: batch.count) { item in
            guard let caption = item["caption"] as? String else {
                throw PipelineError(.internal, "worker \(worker.command): a result has neither \"caption\" (a string) nor \"error\"")
            }
            return caption
        }
    }
}

/// A `process:` generator.
final class ProcessGenerator: Generator, RestartCounting {
    let name: String
    let version: String
    let params: [String: String]
    let backend: String
    let worker: ProcessWorker

    var constraints: GeneratorConstraints { worker.constraints }

    /// `backend`: the spec recorded in the catalog, when it is not `process:` + `command` (the
    /// `{device}` template of a `--devices` run, the same for every worker).
    init(command: String, launch: String? = nil, environment: [String: String] = [:], backend: String? = nil,
         timeouts: ProcessTimeouts) throws {
        worker = try ProcessWorker.starting(command: command, launch: launch, environment: environment, role: "generator",
                                            timeouts: timeouts, others: Backends.generatorKinds)
        name = worker.identity.name
        version = worker.identity.version
        params = worker.identity.params
        self.backend = backend ?? "process:" + command
    }

    var restarts: Int { worker.restarts }

    func generate(_ batch: [GenerationRequest]) -> [Result<GeneratedImage, any Error>] {
        guard !batch.isEmpty else { return [] }
        let requests: [[String: Any]] = batch.map {
            ["prompt": $0.prompt, "seed": $0.seed, "steps": $0.steps, "guidance": $0.guidance, "width": $0.width, "height": $0.height]
        }
        return worker.exchange(["requests": requests], count: batch.count) { item in
            guard let data = item["data"] as? String, let bytes = Data(base64Encoded: data), !bytes.isEmpty else {
                throw PipelineError(.internal, "worker \(worker.command): a result has neither base64 \"data\" nor \"error\"")
            }
            let mediaType = item["media_type"] as? String ?? "image/png"
            guard mediaType.hasPrefix("image/") else {
                throw PipelineError(.internal, "worker \(worker.command): media_type \"\(mediaType)\" is not an image type")
            }
            return GeneratedImage(bytes: [UInt8](bytes), mediaType: mediaType, seconds: (item["seconds"] as? NSNumber)?.doubleValue)
        }
    }
}
