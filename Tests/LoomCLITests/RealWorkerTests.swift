import Foundation
import LoomTestSupport
import Testing

/// The real workers (tools/workers/blip2_captioner.py, sd_generator.py) with real torch,
/// transformers and diffusers, on tiny random-weight models that tools/workers/tiny_models.py
/// builds (no download): `loom caption` / `loom generate` end to end into the store, and
/// `loom` finding the project venv's python by itself.
enum RealWorkers {
    static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().path
    static let python = repository + "/.venv/bin/python"
    static let venvExists = FileManager.default.isExecutableFile(atPath: python)
    static let skipReason: Comment = "no project venv (.venv/bin/python): run tools/setup to install CPU torch, transformers and diffusers"

    /// No hub, no telemetry: everything the workers load is on disk.
    static let offline = ["HF_HUB_OFFLINE": "1", "HF_HUB_DISABLE_TELEMETRY": "1", "TRANSFORMERS_OFFLINE": "1",
                          "LOOM_PYTHON": ""]

    /// The tiny models' folder: built once per version set, kept in the temporary directory.
    static let models: Result<String, LoomFailure> = {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: python)
        process.arguments = [repository + "/tools/workers/tiny_models.py",
                             "--root", FileManager.default.temporaryDirectory.appendingPathComponent("loom-tiny-models").path]
        process.environment = ProcessInfo.processInfo.environment.merging(offline) { _, new in new }
        let out = Pipe()
        let err = Pipe()
        process.standardOutput = out
        process.standardError = err
        do {
            try process.run()
        } catch {
            return .failure(LoomFailure("cannot run tiny_models.py: \(error)"))
        }
        let errors = Thread.detachNewThreadReading(err)
        let printed = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            return .failure(LoomFailure("tiny_models.py exited \(process.terminationStatus):\n\(errors())"))
        }
        return .success(printed.trimmingCharacters(in: .whitespacesAndNewlines))
    }()

    static func script(_ name: String) -> String { repository + "/tools/workers/" + name }

    /// Three small real photos-to-be in two classes, ingested as dataset "d".
    static func store(in temp: ScratchDirectory) throws -> CLIStore {
        let images = DatasetMaker.pictures(classes: ["goldfish", "tabby"], perClass: 2, split: "train", seed: 77).prefix(3)
        try DatasetMaker.write(Array(images), into: temp, root: "data")
        let store = CLIStore(temp.appending("store"), environment: offline)
        try store.ingest(temp.appending("data"), dataset: "d")
        return store
    }
}

private extension Thread {
    /// Drains `pipe` on a thread of its own (a full stderr pipe would block the child); the
    /// returned function waits for the end and gives the text.
    static func detachNewThreadReading(_ pipe: Pipe) -> @Sendable () -> String {
        final class Box: @unchecked Sendable {  // written once by the reader thread before `done` is signalled
            var text = ""
            let done = DispatchSemaphore(value: 0)
        }
        let box = Box()
        let handle = pipe.fileHandleForReading
        Thread.detachNewThread {
            box.text = String(decoding: handle.readDataToEndOfFile(), as: UTF8.self)
            box.done.signal()
        }
        return {
            box.done.wait()
            box.done.signal()
            return box.text
        }
    }
}

extension CLITests {
    struct CaptionJSON: Decodable {
        struct Failure: Decodable { var path: String; var error: String }
        var captioner: String
        var backend: String
        var captioned: Int
        var skipped: Int
        var failed: [Failure]
    }

    struct CaptionRow: Decodable {
        var text: String
        var name: String
        var params: String
        var backend: String
    }

    struct SyntheticInfo: Decodable {
        var digest: String
        var generator: String
        var generator_version: String
        var prompt: String
        var seed: Int64
        var width: Int
        var height: Int
        var steps: Int
    }

    struct LineageJSON: Decodable {
        struct Generator: Decodable { var name: String; var version: String }
        struct Prompt: Decodable { var text: String; var strategy: String }
        var kind: String
        var digest: String
        var generator: Generator
        var prompt: Prompt
        var seed: Int64
        var width: Int
        var height: Int
    }

    @Test("the project venv is there on CI, so the real-worker tests run there",
          .enabled(if: ProcessInfo.processInfo.environment["CI"] != nil))
    func realWorkerVenvExistsOnCI() {
        #expect(RealWorkers.venvExists, "\(RealWorkers.python) is missing: .ci/run must run tools/setup, which makes it")
    }

    @Test("real BLIP-2 worker on a tiny model: loom caption finds the venv's python, records captions under the handshake's identity, and a re-run answers from the catalog",
          .enabled(if: RealWorkers.venvExists, RealWorkers.skipReason))
    func realWorkerCaptions() throws {
        let models = try RealWorkers.models.get()
        let temp = try ScratchDirectory()
        let store = try RealWorkers.store(in: temp)
        // python3, not the venv's path: loom must find .venv by itself (the system python has no torch).
        let backend = "process:python3 '\(RealWorkers.script("blip2_captioner.py"))' --model '\(models)/blip2' --max-new-tokens 8"
        let first = try store.ok(["caption", "--dataset", "d", "--backend", backend, "--batch", "2", "--json"], timeout: .seconds(300))
        let summary = try first.decode(CaptionJSON.self)
        #expect(summary.captioned == 3 && summary.failed.isEmpty && summary.captioner == "blip2", "\(first)")
        #expect(first.stderrText.contains("blip2_captioner: loaded"), "\(first)")

        let rows = try store.ok(["sql", """
            SELECT c.text, cr.name, cr.params, cr.backend FROM captions c JOIN captioners cr ON cr.id = c.captioner_id
            """, "--json"]).decodeLines(CaptionRow.self)
        #expect(rows.count == 3)
        for row in rows {
            #expect(!row.text.isEmpty && row.name == "blip2" && row.backend == backend, "\(row)")
            let params = try JSONDecoder().decode([String: String].self, from: Data(row.params.utf8))
            // A local folder has no hub commit: its version hashes its files.
            #expect(params["version"]?.hasPrefix("sha256-") == true, "\(row.params)")
            #expect(params["model"] == "\(models)/blip2" && params["max_new_tokens"] == "8" && params["dtype"] == "float32", "\(row.params)")
        }

        let again = try store.ok(["caption", "--dataset", "d", "--backend", backend])
        #expect(!again.stderrText.contains("loaded"), "the model was loaded for nothing to do: \(again)")
        #expect(again.stderrText.contains("0 captioned, 3 skipped") && again.stderrText.contains("the worker was not started"), "\(again)")

        let missing = temp.appending("no-such-model")
        let wrong = try store.run(["caption", "--dataset", "d", "--backend",
                                   "process:python3 '\(RealWorkers.script("blip2_captioner.py"))' --model '\(missing)'"])
        #expect(!wrong.succeeded && wrong.stderrText.contains("no such model directory: \(missing)"), "\(wrong)")
    }

    @Test("real Stable Diffusion worker on a tiny model: loom generate stores 64x64 PNGs with their provenance, lineage names them, and a re-run answers from the catalog",
          .enabled(if: RealWorkers.venvExists, RealWorkers.skipReason))
    func realWorkerGenerates() throws {
        let models = try RealWorkers.models.get()
        let temp = try ScratchDirectory()
        let store = try RealWorkers.store(in: temp)
        try store.ok(["prompts", "--dataset", "d", "--strategy", "class-name"])
        let backend = "process:python3 '\(RealWorkers.script("sd_generator.py"))' --model '\(models)/sd'"
        let generate = ["generate", "--dataset", "d", "--prompts", "class-name", "--backend", backend, "--per-prompt", "2",
                        "--seed", "3", "--steps", "2", "--guidance", "2", "--size", "64x64", "--batch", "2", "--json"]
        let first = try store.ok(generate, timeout: .seconds(300))
        let summary = try first.decode(GenerateJSON.self)
        #expect(summary.generated == 4 && summary.failed.isEmpty, "\(first)")
        #expect(first.stderrText.contains("sd_generator: loaded"), "\(first)")

        let images = try store.ok(["synthetic", "--dataset", "d", "--json"]).decodeLines(SyntheticInfo.self)
        #expect(images.count == 4)
        #expect(Set(images.map(\.prompt)) == ["goldfish", "tabby"])
        for image in images {
            #expect(image.generator == "sd" && image.generator_version.hasPrefix("sha256-") && image.steps == 2, "\(image)")
            #expect(image.width == 64 && image.height == 64)
            let png = [UInt8](try store.cat(image.digest))
            #expect(png.starts(with: [0x89, 0x50, 0x4E, 0x47]), "not a PNG")
            // IHDR: width and height, big-endian, at bytes 16...23.
            #expect(png.count > 24 && png[16..<24].elementsEqual([0, 0, 0, 64, 0, 0, 0, 64]), "the PNG is not 64x64")
        }
        let lineage = try store.ok(["lineage", images[0].digest, "--json"]).decode(LineageJSON.self)
        #expect(lineage.kind == "synthetic" && lineage.generator.name == "sd" && lineage.seed == images[0].seed, "\(lineage)")
        #expect(lineage.generator.version == images[0].generator_version && lineage.prompt.text == images[0].prompt)
        #expect(lineage.width == 64 && lineage.prompt.strategy == "class-name")

        let again = try store.ok(generate)
        #expect(!again.stderrText.contains("loaded"), "the model was loaded for nothing to do: \(again)")
        let rerun = try again.decode(GenerateJSON.self)
        #expect(rerun.generated == 0 && rerun.skipped == 4 && rerun.failed.isEmpty, "\(again)")
    }

    @Test("loom generate refuses a size the worker's handshake rules out before any job, and exits 1 naming the error when every job fails",
          .enabled(if: RealWorkers.venvExists, RealWorkers.skipReason))
    func realWorkerRefusesBadSizesAndFailsLoudly() throws {
        let temp = try ScratchDirectory()
        let store = try RealWorkers.store(in: temp)
        try store.ok(["prompts", "--dataset", "d", "--strategy", "class-name"])
        let backend = "process:python3 '\(RealWorkers.script("sd_generator.py"))' --dry-run --model org/sd"
        func generate(_ size: String) throws -> LoomRun {
            try store.run(["generate", "--dataset", "d", "--prompts", "class-name", "--backend", backend, "--per-prompt", "1",
                           "--seed", "1", "--steps", "1", "--size", size])
        }
        let odd = try generate("60x64")
        #expect(!odd.succeeded && odd.stderrText.contains("--size 60x64") && odd.stderrText.contains("multiples of 8")
                    && odd.stderrText.contains("64x64"), "\(odd)")
        struct Count: Decodable { var n: Int }
        let runs = try store.ok(["sql", "SELECT count(*) AS n FROM runs WHERE stage = 'generate'", "--json"]).decodeLines(Count.self)
        #expect(runs.first?.n == 0, "a run was planned for a size the generator cannot make")

        // 8192 is a multiple of 8 the stand-in cannot make: each job fails, every time.
        let failing = try generate("8192x8192")
        #expect(failing.status == 1 && !failing.signaled, "\(failing)")
        #expect(failing.stderrText.contains("all 2 jobs failed") && failing.stderrText.contains("outside 1...4096"), "\(failing)")
    }

    @Test("loom caption exits 1, with how many failed and the first error, when no image got a caption")
    func captionFailsLoudlyWhenEveryImageFails() throws {
        let temp = try ScratchDirectory()
        let store = try RealWorkers.store(in: temp)
        let worker = try temp.write(#"""
            import json, sys
            print(json.dumps({"protocol": "loom-worker", "version": 1, "role": "captioner", "name": "refuser", "model_version": "1", "params": {}}), flush=True)
            for line in sys.stdin:
                request = json.loads(line)
                print(json.dumps({"id": request["id"], "results": [{"error": "no GPU here"} for _ in request["images"]]}), flush=True)
            """#, to: "refuser.py")
        let run = try store.run(["caption", "--dataset", "d", "--backend", "process:python3 '\(worker)'"])
        #expect(run.status == 1 && !run.signaled, "\(run)")
        #expect(run.stderrText.contains("all 3 images failed") && run.stderrText.contains("no GPU here"), "\(run)")
    }
}
