import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import LoomStore

/// A re-run with nothing to do, answered from the catalog without starting the worker.
///
/// Who a `process:` worker is (its name, model version, params) is known only from its
/// handshake, after it has loaded the model: seconds to minutes. But the catalog records, for
/// each captioner and generator, the `--backend` spec it first came from. So for the same spec,
/// the identity it had most recently is taken as the one it would have now when
///
/// - no file named in the command (the script, a `--model` folder and everything in it) changed
///   after that identity was first recorded (a changed file may be a changed model: then the
///   worker is started and its handshake decides), and
/// - nothing the run asks for is missing under that identity.
///
/// Then the run goes through the usual code with a stand-in carrying that identity, which is
/// never asked for anything (the same run rows and summary as a run that found everything
/// done). In every other case the worker starts as before. What this cannot see: a hub model
/// id without `--revision`, whose newer commit a started worker would pick up; pin the revision
/// to make that explicit.
public enum CatalogAnswer {
    /// The generator to use instead of starting `spec`, or nil to start it.
    public static func generator(store: Store, spec: String, dataset: String, options: GenerateRun.Options) throws -> (any Generator)? {
        guard spec.hasPrefix("process:"), options.perPrompt > 0 else { return nil }
        let found = try store.read { snapshot -> BackendIdentity? in
            guard let datasetID = try snapshot.datasets.dataset(named: dataset)?.id,
                  let identity = try snapshot.synthetic.latestGenerator(backend: spec) else { return nil }
            let prompts = try snapshot.prompts.prompts(of: datasetID, strategy: options.strategy)
            guard !prompts.isEmpty else { return nil }
            var wanted = Set<SyntheticKey>()
            for prompt in prompts {
                for index in 0..<options.perPrompt {
                    wanted.insert(SyntheticKey(
                        promptID: prompt.id, generatorID: identity.id,
                        seed: GenerateRun.imageSeed(base: options.seed, promptID: prompt.id, index: index),
                        steps: options.steps, guidance: options.guidance, width: options.width, height: options.height))
                }
            }
            let synthetic = snapshot.synthetic
            return try wanted.allSatisfy { try synthetic.contains($0) } ? identity : nil
        }
        guard let found, unchanged(since: found.createdAt, command: String(spec.dropFirst("process:".count))) else { return nil }
        return RecordedGenerator(name: found.name, version: found.version, params: try decode(found.params), backend: spec)
    }

    /// The captioner to use instead of starting `spec`, or nil to start it.
    public static func captioner(store: Store, spec: String, dataset: String, split: String?) throws -> (any Captioner)? {
        guard spec.hasPrefix("process:") else { return nil }
        let found = try store.read { snapshot -> BackendIdentity? in
            guard let datasetID = try snapshot.datasets.dataset(named: dataset)?.id,
                  let identity = try snapshot.captions.latestCaptioner(backend: spec) else { return nil }
            var splitID: Int64?
            if let split {
                guard let id = try snapshot.datasets.split(named: split, of: datasetID)?.id else { return nil }
                splitID = id
            }
            return try snapshot.captions.uncaptionedCount(of: datasetID, splitID: splitID, captionerID: identity.id) == 0 ? identity : nil
        }
        guard let found, unchanged(since: found.createdAt, command: String(spec.dropFirst("process:".count))) else { return nil }
        let params = try decode(found.params)
        // CaptionRun adds the version to the params; a recorded row already holds it.
        return RecordedCaptioner(name: found.name, version: params["version"] ?? "", params: params, backend: spec)
    }

    // MARK: - Files named in the command

    /// True when every existing file or folder named by a word of `command` (or by the value of
    /// a `--name=value` word), and everything below a folder, was last changed before `since`.
    static func unchanged(since: String, command: String, limit: Int = 100_000) -> Bool {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        guard let recorded = formatter.date(from: since) else { return false }
        var seen = 0
        for word in words(command) {
            for candidate in [word] + (word.hasPrefix("-") ? word.split(separator: "=", maxSplits: 1).dropFirst().map(String.init) : []) {
                let path = (candidate as NSString).expandingTildeInPath
                guard let changed = lastChange(path) else { continue }
                if changed >= recorded { return false }
                guard let enumerator = FileManager.default.enumerator(atPath: path) else { continue }
                while let relative = enumerator.nextObject() as? String {
                    seen += 1
                    // A folder too big to look through might hide a change: start the worker.
                    guard seen <= limit, let entry = lastChange(path + "/" + relative), entry < recorded else { return false }
                }
            }
        }
        return true
    }

    /// The later of the status change and modification times (following links), or nil when
    /// nothing is there.
    private static func lastChange(_ path: String) -> Date? {
        var info = stat()
        guard stat(path, &info) == 0 else { return nil }
        #if canImport(Darwin)
        let times = [info.st_mtimespec, info.st_ctimespec]
        #else
        let times = [info.st_mtim, info.st_ctim]
        #endif
        let latest = times.map { Double($0.tv_sec) + Double($0.tv_nsec) / 1e9 }.max() ?? 0
        return Date(timeIntervalSince1970: latest)
    }

    /// The words of a shell command line: blanks separate, quotes and backslashes group (enough
    /// to find the paths in it; expansions are left as written).
    static func words(_ command: String) -> [String] {
        var words: [String] = []
        var current = ""
        var inWord = false
        var quote: Character?
        var escaped = false
        for character in command {
            if escaped {
                current.append(character)
                escaped = false
            } else if let open = quote {
                if character == open { quote = nil } else if character == "\\" && open == "\"" { escaped = true } else { current.append(character) }
            } else if character == "'" || character == "\"" {
                quote = character
                inWord = true
            } else if character == "\\" {
                escaped = true
                inWord = true
            } else if character == " " || character == "\t" || character == "\n" {
                if inWord { words.append(current) }
                current = ""
                inWord = false
            } else {
                current.append(character)
                inWord = true
            }
        }
        if inWord { words.append(current) }
        return words
    }

    private static func decode(_ json: String) throws -> [String: String] {
        guard let object = try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any] else {
            throw PipelineError(.corrupt, "recorded params \(json) are not a JSON object")
        }
        return object.mapValues { ProcessWorker.text($0) }
    }
}

/// The identity a backend had before, standing in for it when nothing is left to make.
struct RecordedGenerator: Generator {
    var name: String
    var version: String
    var params: [String: String]
    var backend: String

    func generate(_ batch: [GenerationRequest]) -> [Result<GeneratedImage, any Error>] {
        batch.map { _ in .failure(PipelineError(.internal, "generator \(name) was not started: the catalog had every image")) }
    }
}

/// The identity a captioner had before, standing in for it when nothing is left to caption.
struct RecordedCaptioner: Captioner {
    var name: String
    var version: String
    var params: [String: String]
    var backend: String

    func caption(_ batch: [CaptionInput]) -> [Result<String, any Error>] {
        batch.map { _ in .failure(PipelineError(.internal, "captioner \(name) was not started: the catalog had every caption")) }
    }
}
