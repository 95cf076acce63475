import Foundation
import LoomStore
import LoomTestSupport
import Testing

/// `--workers N` / `--devices ...` on loom generate and loom caption, driven through the built
/// binary with real worker processes.
extension CLITests {
    struct FanoutGenerateJSON: Decodable {
        struct Worker: Decodable { var device: String?; var items: Int; var items_per_s: Double; var restarts: Int }
        var planned: Int
        var generated: Int
        var skipped: Int
        var failed: [GenerateJSON.Failure]
        var workers: [Worker]
    }

    struct FanoutCaptionJSON: Decodable {
        var captioned: Int
        var failed: [CaptionJSON.Failure]
        var workers: [FanoutGenerateJSON.Worker]
    }

    /// A generator speaking the loom-worker protocol with stand-in PNGs (the same bytes as
    /// sd_generator.py --dry-run). `--log FILE` appends "<argv device> <CUDA_VISIBLE_DEVICES>" at
    /// start; `--crash-once MARKER` makes the first worker to get a batch exit without answering
    /// (only once: it creates MARKER), `--hang-once MARKER` makes it stop answering instead;
    /// `--name-by-device` puts CUDA_VISIBLE_DEVICES in the name.
    static func fanoutWorker(in temp: ScratchDirectory) throws -> String {
        try temp.write(#"""
            import argparse, json, os, sys, time
            sys.path.insert(0, sys.argv[1])
            import loom_worker
            from sd_generator import dry_generate
            parser = argparse.ArgumentParser()
            parser.add_argument("workers")
            parser.add_argument("--device", default="none")
            parser.add_argument("--log")
            parser.add_argument("--crash-once")
            parser.add_argument("--hang-once")
            parser.add_argument("--name-by-device", action="store_true")
            args = parser.parse_args()
            visible = os.environ.get("CUDA_VISIBLE_DEVICES", "unset")
            if args.log:
                with open(args.log, "a") as log:
                    log.write("%s %s\n" % (args.device, visible))
            name = "fanout-" + visible if args.name_by_device else "fanout"
            print(json.dumps({"protocol": "loom-worker", "version": 1, "role": "generator", "name": name,
                              "model_version": "1", "params": {"k": "v"}}), flush=True)
            for line in sys.stdin:
                request = json.loads(line)
                if args.crash_once:
                    try:
                        os.close(os.open(args.crash_once, os.O_CREAT | os.O_EXCL))
                        os._exit(3)
                    except FileExistsError:
                        pass
                if args.hang_once:
                    try:
                        os.close(os.open(args.hang_once, os.O_CREAT | os.O_EXCL))
                        time.sleep(600)
                    except FileExistsError:
                        pass
                results = [dry_generate(r) for r in request["requests"]]
                print(json.dumps({"id": request["id"], "results": results}), flush=True)
            """#, to: "fanout_worker.py")
    }

    static func fanoutBackend(_ script: String, _ extra: String = "") -> String {
        "process:'\(RealWorkers.python)' '\(script)' '\(RealWorkers.repository)/tools/workers' --device {device}\(extra)"
    }

    static func fanoutStore(_ temp: ScratchDirectory, _ name: String) throws -> CLIStore {
        let store = CLIStore(temp.appending(name), environment: RealWorkers.offline)
        try store.ingest(temp.appending("data"), dataset: "d")
        try store.ok(["prompts", "--dataset", "d", "--strategy", "class-name"])
        return store
    }

    static func fanoutData(_ temp: ScratchDirectory) throws {
        let images = DatasetMaker.pictures(classes: ["goldfish", "tabby", "heron"], perClass: 1, split: "train", seed: 5)
        try DatasetMaker.write(images, into: temp, root: "data")
    }

    @Test("loom generate --workers 2 with sd_generator.py --dry-run makes the same images, prompts and seeds as one worker, and reports each worker",
          .enabled(if: RealWorkers.venvExists, RealWorkers.skipReason))
    func generateWithTwoWorkersEqualsOne() throws {
        let temp = try ScratchDirectory()
        try Self.fanoutData(temp)
        let backend = "process:python3 '\(RealWorkers.script("sd_generator.py"))' --dry-run --model org/sd"
        func generate(_ store: CLIStore, _ extra: [String]) throws -> FanoutGenerateJSON {
            try store.ok(["generate", "--dataset", "d", "--prompts", "class-name", "--backend", backend, "--per-prompt", "8",
                          "--seed", "11", "--steps", "1", "--size", "16x16", "--batch", "2", "--json"] + extra).decode(FanoutGenerateJSON.self)
        }
        let one = try Self.fanoutStore(temp, "one")
        let single = try generate(one, [])
        #expect(single.generated == 24 && single.failed.isEmpty && single.workers.count == 1 && single.workers[0].items == 24)
        let two = try Self.fanoutStore(temp, "two")
        let pair = try generate(two, ["--workers", "2"])
        #expect(pair.generated == 24 && pair.failed.isEmpty, "\(pair)")
        #expect(pair.workers.count == 2 && pair.workers.map(\.items).reduce(0, +) == 24 && pair.workers.allSatisfy { $0.restarts == 0 },
                "\(pair.workers)")
        let expected = Set(try one.ok(["synthetic", "--dataset", "d", "--json"]).decodeLines(SyntheticInfo.self).map { "\($0.digest) \($0.prompt) \($0.seed) \($0.generator)" })
        let made = Set(try two.ok(["synthetic", "--dataset", "d", "--json"]).decodeLines(SyntheticInfo.self).map { "\($0.digest) \($0.prompt) \($0.seed) \($0.generator)" })
        #expect(expected.count == 24 && made == expected)
        // The one generator row (same identity and backend spec) and a clean store.
        struct Count: Decodable { var n: Int }
        #expect(try two.ok(["sql", "SELECT count(*) AS n FROM generators", "--json"]).decodeLines(Count.self).first?.n == 1)
        try two.expectClean("after a two-worker generate")
        let again = try generate(two, ["--workers", "2"])
        #expect(again.generated == 0 && again.skipped == 24)
    }

    @Test("--devices cuda:0,cuda:1 starts one worker per device, each seeing only its GPU as cuda:0 through CUDA_VISIBLE_DEVICES",
          .enabled(if: RealWorkers.venvExists, RealWorkers.skipReason))
    func devicesPlaceOneWorkerPerGPU() throws {
        let temp = try ScratchDirectory()
        try Self.fanoutData(temp)
        let script = try Self.fanoutWorker(in: temp)
        let log = temp.appending("devices.log")
        let store = try Self.fanoutStore(temp, "store")
        let run = try store.ok(["generate", "--dataset", "d", "--prompts", "class-name", "--backend",
                                Self.fanoutBackend(script, " --log '\(log)'"), "--per-prompt", "2", "--seed", "3", "--steps", "1",
                                "--size", "8x8", "--batch", "1", "--devices", "cuda:0,cuda:1", "--json"]).decode(FanoutGenerateJSON.self)
        #expect(run.generated == 6 && run.failed.isEmpty)
        #expect(run.workers.map(\.device) == ["cuda:0", "cuda:1"])
        let lines = try String(contentsOfFile: log, encoding: .utf8).split(separator: "\n").map(String.init).sorted()
        #expect(lines == ["cuda:0 0", "cuda:0 1"])
        // The catalog records the command as written, {device} and all: the same for any layout.
        struct Backend: Decodable { var backend: String }
        let recorded = try store.ok(["sql", "SELECT backend FROM generators", "--json"]).decodeLines(Backend.self)
        #expect(recorded.map(\.backend) == [Self.fanoutBackend(script, " --log '\(log)'")])
    }

    @Test("workers that report different identities are refused before any job is planned",
          .enabled(if: RealWorkers.venvExists, RealWorkers.skipReason))
    func workersWithDifferentIdentitiesAreRefused() throws {
        let temp = try ScratchDirectory()
        try Self.fanoutData(temp)
        let script = try Self.fanoutWorker(in: temp)
        let store = try Self.fanoutStore(temp, "store")
        let run = try store.run(["generate", "--dataset", "d", "--prompts", "class-name", "--backend",
                                 Self.fanoutBackend(script, " --name-by-device"), "--per-prompt", "1", "--seed", "3",
                                 "--size", "8x8", "--devices", "cuda:0,cuda:1"])
        #expect(!run.succeeded && run.stderrText.contains("disagree") && run.stderrText.contains("fanout-0")
                    && run.stderrText.contains("fanout-1") && run.stderrText.contains("cuda:1"), "\(run)")
        struct Count: Decodable { var n: Int }
        #expect(try store.ok(["sql", "SELECT count(*) AS n FROM runs WHERE stage = 'generate'", "--json"]).decodeLines(Count.self).first?.n == 0)
    }

    @Test("a worker that crashes mid-run is restarted and its batch retried; the end state equals a run without the crash",
          .enabled(if: RealWorkers.venvExists, RealWorkers.skipReason))
    func crashedWorkerIsRestartedAndItsBatchRetried() throws {
        let temp = try ScratchDirectory()
        try Self.fanoutData(temp)
        let script = try Self.fanoutWorker(in: temp)
        func generate(_ store: CLIStore, _ extra: String) throws -> FanoutGenerateJSON {
            try store.ok(["generate", "--dataset", "d", "--prompts", "class-name", "--backend", Self.fanoutBackend(script, extra),
                          "--per-prompt", "4", "--seed", "9", "--steps", "1", "--size", "8x8", "--batch", "2", "--workers", "2",
                          "--json"]).decode(FanoutGenerateJSON.self)
        }
        let clean = try Self.fanoutStore(temp, "clean")
        #expect(try generate(clean, "").generated == 12)
        let crashed = try Self.fanoutStore(temp, "crashed")
        let run = try generate(crashed, " --crash-once '\(temp.appending("crashed.marker"))'")
        #expect(run.generated == 12 && run.failed.isEmpty, "\(run)")
        #expect(FileManager.default.fileExists(atPath: temp.appending("crashed.marker")), "no worker crashed")
        #expect(run.workers.map(\.restarts).reduce(0, +) <= 1, "\(run.workers)")
        let expected = Set(try clean.ok(["synthetic", "--dataset", "d", "--json"]).decodeLines(SyntheticInfo.self).map(\.digest))
        let made = Set(try crashed.ok(["synthetic", "--dataset", "d", "--json"]).decodeLines(SyntheticInfo.self).map(\.digest))
        #expect(made == expected && made.count == 12)
        try crashed.expectClean("after a worker crash")
    }

    @Test("a worker that hangs is killed after the batch timeout and its batch goes back to the queue; nothing fails",
          .enabled(if: RealWorkers.venvExists, RealWorkers.skipReason))
    func hungWorkerIsKilledAndItsBatchRetried() throws {
        let temp = try ScratchDirectory()
        try Self.fanoutData(temp)
        let script = try Self.fanoutWorker(in: temp)
        let marker = temp.appending("hung.marker")
        let store = try Self.fanoutStore(temp, "store")
        let run = try store.ok(["generate", "--dataset", "d", "--prompts", "class-name", "--backend",
                                Self.fanoutBackend(script, " --hang-once '\(marker)'"), "--per-prompt", "2", "--seed", "9",
                                "--steps", "1", "--size", "8x8", "--batch", "1", "--workers", "2", "--json"],
                               environment: ["LOOM_PROCESS_TIMEOUT": "2"]).decode(FanoutGenerateJSON.self)
        #expect(FileManager.default.fileExists(atPath: marker), "no worker hung")
        #expect(run.generated == 6 && run.failed.isEmpty, "\(run)")
        #expect(run.workers.map(\.items).reduce(0, +) == 7, "six images and the batch that hung: \(run.workers)")
        try store.expectClean("after a hung worker")
    }

    @Test("builtin: backends refuse --workers and --devices; http: refuses --devices; --workers must match --devices")
    func fanoutOptionsAreChecked() throws {
        let temp = try ScratchDirectory()
        try Self.fanoutData(temp)
        let store = try Self.fanoutStore(temp, "store")
        let base = ["generate", "--dataset", "d", "--prompts", "class-name", "--per-prompt", "1", "--seed", "1"]
        let builtin = try store.run(base + ["--backend", "builtin:procedural", "--workers", "2"])
        #expect(!builtin.succeeded && builtin.stderrText.contains("builtin:procedural runs inside loom"), "\(builtin)")
        let caption = try store.run(["caption", "--dataset", "d", "--backend", "builtin:stats", "--devices", "cuda:0"])
        #expect(!caption.succeeded && caption.stderrText.contains("--workers and --devices apply to process: and http:"), "\(caption)")
        let http = try store.run(base + ["--backend", "http:http://127.0.0.1:9", "--devices", "cuda:0,cuda:1"])
        #expect(!http.succeeded && http.stderrText.contains("--devices applies to process: backends only"), "\(http)")
        let mismatch = try store.run(base + ["--backend", "process:true", "--workers", "3", "--devices", "cuda:0,cuda:1"])
        #expect(!mismatch.succeeded && mismatch.stderrText.contains("--workers 3 with --devices cuda:0,cuda:1"), "\(mismatch)")
        let zero = try store.run(base + ["--backend", "process:true", "--workers", "0"])
        #expect(!zero.succeeded && zero.stderrText.contains("--workers must be at least 1"), "\(zero)")
        // One worker stays the default path: builtin with --workers 1 runs.
        #expect(try store.run(base + ["--backend", "builtin:procedural", "--workers", "1", "--size", "16x16"]).succeeded)
    }

    @Test("loom caption --workers 2 with blip2_captioner.py --dry-run captions every image once, as one worker does",
          .enabled(if: RealWorkers.venvExists, RealWorkers.skipReason))
    func captionWithTwoWorkers() throws {
        let temp = try ScratchDirectory()
        let images = DatasetMaker.pictures(classes: ["goldfish", "tabby"], perClass: 3, split: "train", seed: 8)
        try DatasetMaker.write(images, into: temp, root: "data")
        let backend = "process:python3 '\(RealWorkers.script("blip2_captioner.py"))' --dry-run --model Salesforce/blip2-opt-2.7b"
        struct Text: Decodable { var path: String; var text: String }
        func captions(_ name: String, _ extra: [String]) throws -> (FanoutCaptionJSON, [String]) {
            let store = CLIStore(temp.appending(name), environment: RealWorkers.offline)
            try store.ingest(temp.appending("data"), dataset: "d")
            let summary = try store.ok(["caption", "--dataset", "d", "--backend", backend, "--batch", "1", "--json"] + extra)
                .decode(FanoutCaptionJSON.self)
            let rows = try store.ok(["sql", "SELECT r.path, c.text FROM captions c JOIN real_images r ON r.id = c.real_image_id ORDER BY r.path",
                                     "--json"]).decodeLines(Text.self)
            return (summary, rows.map { "\($0.path)=\($0.text)" })
        }
        let (one, expected) = try captions("one", [])
        let (two, made) = try captions("two", ["--workers", "2"])
        #expect(one.captioned == 6 && two.captioned == 6 && two.failed.isEmpty)
        #expect(two.workers.count == 2 && two.workers.map(\.items).reduce(0, +) == 6)
        #expect(made == expected && made.count == 6)
    }

    @Test("the tiny real Stable Diffusion model on two workers (--devices cpu,cpu) makes the same PNGs as on one",
          .enabled(if: RealWorkers.venvExists, RealWorkers.skipReason))
    func realModelOnTwoWorkersEqualsOne() throws {
        let models = try RealWorkers.models.get()
        let temp = try ScratchDirectory()
        try Self.fanoutData(temp)
        let backend = "process:python3 '\(RealWorkers.script("sd_generator.py"))' --model '\(models)/sd' --device {device}"
        func generate(_ store: CLIStore, _ extra: [String]) throws -> FanoutGenerateJSON {
            try store.ok(["generate", "--dataset", "d", "--prompts", "class-name", "--backend", backend, "--per-prompt", "2",
                          "--seed", "3", "--steps", "2", "--guidance", "2", "--size", "64x64", "--batch", "2", "--json"] + extra,
                         timeout: .seconds(300)).decode(FanoutGenerateJSON.self)
        }
        let one = try Self.fanoutStore(temp, "one")
        let single = try generate(one, ["--devices", "cpu"])
        #expect(single.generated == 6)
        let two = try Self.fanoutStore(temp, "two")
        let pair = try generate(two, ["--devices", "cpu,cpu"])
        #expect(pair.generated == 6 && pair.failed.isEmpty && pair.workers.map(\.device) == ["cpu", "cpu"], "\(pair)")
        func images(_ store: CLIStore) throws -> Set<String> {
            Set(try store.ok(["synthetic", "--dataset", "d", "--json"]).decodeLines(SyntheticInfo.self)
                .map { "\($0.digest) \($0.prompt) \($0.seed) \($0.generator) \($0.generator_version)" })
        }
        let expected = try images(one)
        let made = try images(two)
        #expect(expected.count == 6 && made == expected)
    }
}
