import Foundation
import LoomTar
import LoomTestSupport
import Testing

/// The Python that `loom train --trainer torch` would use here ($LOOM_PYTHON, else the
/// repository's .venv, else python3), if it has torch, safetensors and numpy (the worker copes without torchvision for resnet-small).
enum TorchPython {
    static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().path

    static let interpreter: String? = {
        var candidates: [String] = []
        if let explicit = ProcessInfo.processInfo.environment["LOOM_PYTHON"], !explicit.isEmpty { candidates.append(explicit) }
        candidates += [repository + "/.venv/bin/python", "python3"]
        for candidate in candidates {
            if let output = try? run(candidate, ["-c", "import torch, safetensors, numpy"]), output.status == 0 {
                return candidate
            }
        }
        return nil
    }()

    static let skipMessage = "torch trainer tests need a Python with torch, safetensors and numpy (LOOM_PYTHON, <repo>/.venv or python3); none found"

    /// Runs `python arguments`; stdout and the exit status.
    static func run(_ python: String, _ arguments: [String], environment: [String: String] = [:]) throws -> (status: Int32, stdout: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = [python] + arguments
        if !environment.isEmpty { process.environment = ProcessInfo.processInfo.environment.merging(environment) { _, new in new } }
        let output = Pipe()
        process.standardOutput = output
        process.standardError = FileHandle.nullDevice
        try process.run()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: data, as: UTF8.self))
    }
}

extension CLITests {
    struct TorchSummary: Decodable {
        var type: String
        var epoch: Int?
        var run_id: Int64?
        var epochs: Int?
        var resumed_from_epoch: Int?
        var checkpoint: String?
        var device: String?
        var torch_version: String?
        var world: Int?
        var eval_top1: Double?
        var per_class: [ClassLine]?

        struct ClassLine: Decodable { var total: Int }
    }

    struct SQLRow: Decodable {
        var n: Int?
        var s: String?
        var epoch: Int?
    }

    static func torchArguments(epochs: Int = 2) -> [String] {
        ["train", "--trainer", "torch", "--device", "cpu", "--train", "d:train", "--eval", "d:val", "--size", "16", "--batch", "4",
         "--seed", "5", "--threads", "1", "--epochs", "\(epochs)", "--json"]
    }

    @Test("loom train --trainer torch: epoch lines and summary, epoch rows, a safetensors checkpoint blob, resume after a stop",
          .enabled(if: TorchPython.interpreter != nil, Comment(rawValue: TorchPython.skipMessage)))
    func torchTrainerTrainsAndResumes() throws {
        let python = try #require(TorchPython.interpreter)
        let temp = try ScratchDirectory()
        try Self.trainingData(temp)
        let store = CLIStore(temp.appending("store"), environment: ["LOOM_PYTHON": python])
        try store.ingest(temp.appending("data"), dataset: "d")

        let first = try store.ok(Self.torchArguments() + ["--stop-after-epochs", "1"], timeout: .seconds(300))
            .decodeLines(TorchSummary.self)
        #expect(first.map(\.type) == ["epoch", "summary"], "\(first)")
        #expect(first.first?.epoch == 1 && first.last?.epochs == 1)
        let runID = try #require(first.last?.run_id)
        #expect(try store.ok(["sql", "SELECT status AS s FROM runs WHERE id = \(runID)", "--json"]).decodeLines(SQLRow.self).map(\.s) == ["running"])

        let resumed = try store.ok(Self.torchArguments() + ["--resume"], timeout: .seconds(300)).decodeLines(TorchSummary.self)
        #expect(resumed.map(\.type) == ["epoch", "summary"], "\(resumed)")
        let summary = try #require(resumed.last)
        #expect(resumed.first?.epoch == 2)
        #expect(summary.run_id == runID && summary.resumed_from_epoch == 1 && summary.epochs == 2)
        #expect(summary.device == "cpu" && summary.torch_version?.isEmpty == false && summary.world == 1)
        #expect(summary.eval_top1 != nil && summary.per_class?.map(\.total).reduce(0, +) == 6)

        let epochs = try store.ok(["sql", "SELECT epoch FROM train_epochs WHERE run_id = \(runID) ORDER BY epoch", "--json"])
            .decodeLines(SQLRow.self).map(\.epoch)
        #expect(epochs == [1, 2], "every epoch once")
        let runs = try store.ok(["sql", "SELECT count(*) AS n, min(status) AS s FROM runs WHERE stage = 'train'", "--json"])
            .decodeLines(SQLRow.self)
        #expect(runs.map(\.n) == [1] && runs.map(\.s) == ["finished"], "one run, finished")
        let samples = try store.ok(["sql", "SELECT count(*) AS n FROM run_samples WHERE run_id = \(runID)", "--json"])
            .decodeLines(SQLRow.self)
        #expect(samples.map(\.n) == [20])

        // The checkpoint blob: a tar whose model.safetensors safetensors reads, and whose optimizer.pt
        // torch.load(weights_only=True) accepts.
        let digest = try #require(summary.checkpoint)
        let tar = try temp.write(Array(store.cat(digest)), to: "checkpoint.tar")
        let check = try TorchPython.run(python, ["-c", """
            import io, json, sys, tarfile, torch
            from safetensors.torch import load
            t = tarfile.open(sys.argv[1])
            m = {x.name: t.extractfile(x).read() for x in t.getmembers()}
            weights = load(m["model.safetensors"])
            state = torch.load(io.BytesIO(m["optimizer.pt"]), weights_only=True)
            meta = json.loads(m["loom.json"])
            print(json.dumps({"fc": list(weights["fc.weight"].shape), "epoch": meta["epoch"], "momentum": len(state["optimizer"]["state"])}))
            """, tar])
        #expect(check.status == 0, "the checkpoint did not load")
        #expect(check.stdout.contains(#""fc": [2, 64]"#) && check.stdout.contains(#""epoch": 2"#), "\(check.stdout)")
        // loom checkpoint export hands out that model.safetensors as stored.
        let exported = temp.appending("exported.safetensors")
        try store.ok(["checkpoint", "export", "\(runID)", exported])
        let stored = try TarReader.members(of: Array(store.cat(digest)), name: digest)["model.safetensors"]
        let written = Array(try Data(contentsOf: URL(fileURLWithPath: exported)))
        #expect(stored != nil && written == stored)
    }

    @Test("loom train --trainer torch --gpus 2 --device cpu: two gloo ranks, each on its own disjoint half of the samples",
          .enabled(if: TorchPython.interpreter != nil, Comment(rawValue: TorchPython.skipMessage)))
    func torchTrainerRanksAreDisjoint() throws {
        let python = try #require(TorchPython.interpreter)
        let temp = try ScratchDirectory()
        try Self.trainingData(temp)
        let trace = try temp.makeDirectory("trace")
        let store = CLIStore(temp.appending("store"), environment: ["LOOM_PYTHON": python, "LOOM_TORCH_TRACE": trace])
        try store.ingest(temp.appending("data"), dataset: "d")
        let lines = try store.ok(Self.torchArguments(epochs: 1) + ["--gpus", "2"], timeout: .seconds(300))
            .decodeLines(TorchSummary.self)
        #expect(lines.map(\.type) == ["epoch", "summary"], "\(lines)")
        #expect(lines.last?.world == 2)
        func samples(_ rank: Int) throws -> [String] {
            try String(contentsOfFile: trace + "/rank-\(rank)-epoch-1.txt", encoding: .utf8).split(separator: "\n").map(String.init)
        }
        let (zero, one) = (try samples(0), try samples(1))
        #expect(zero.count == 10 && one.count == 10, "20 images, batch 4 split in 2: 5 steps of 2 per rank")
        #expect(Set(zero).isDisjoint(with: one) && Set(zero + one).count == 20, "each sample on exactly one rank")
        let runs = try store.ok(["sql", "SELECT count(*) AS n FROM runs WHERE stage = 'train' AND status = 'finished'", "--json"])
            .decodeLines(SQLRow.self)
        #expect(runs.map(\.n) == [1], "one run for both ranks")
    }

    @Test("loom experiment --trainer torch writes the same report",
          .enabled(if: TorchPython.interpreter != nil, Comment(rawValue: TorchPython.skipMessage)))
    func torchExperimentWritesReport() throws {
        let python = try #require(TorchPython.interpreter)
        let temp = try ScratchDirectory()
        try Self.trainingData(temp)
        let store = CLIStore(temp.appending("store"), environment: ["LOOM_PYTHON": python])
        try store.ingest(temp.appending("data"), dataset: "d")
        let reports = temp.appending("reports")
        let run = try store.ok(["experiment", "--dataset", "d", "--strategies", "class-name", "--epochs", "1", "--size", "16",
                                "--batch", "4", "--threads", "1", "--image-size", "32", "--trainer", "torch", "--device", "cpu",
                                "--name", "torch-exp", "--reports", reports, "--json"], timeout: .seconds(300))
        let summary = try #require(try JSONSerialization.jsonObject(with: run.stdout) as? [String: Any])
        let results = try #require(summary["results"] as? [[String: Any]])
        #expect((results.first?["summary"] as? [String: Any])?["device"] as? String == "cpu")
        for file in ["report.md", "report.json", "report.svg", "per_class.csv"] {
            #expect(FileManager.default.fileExists(atPath: reports + "/torch-exp/" + file), "\(file)")
        }
    }

    @Test("loom train --trainer torch names an interpreter that cannot run it, and refuses torch flags without it")
    func torchTrainerExplainsAMissingInterpreter() throws {
        let temp = try ScratchDirectory()
        try Self.trainingData(temp)
        let store = CLIStore(temp.appending("store"))
        try store.ingest(temp.appending("data"), dataset: "d")
        let broken = try store.run(Self.torchArguments() + ["--python", "/bin/false"])
        #expect(!broken.succeeded && broken.stderrText.contains("exited before its handshake")
                && broken.stderrText.contains("--python"), "\(broken.stderrText)")
        let swift = try store.run(["train", "--train", "d:train", "--gpus", "2", "--epochs", "1"])
        #expect(!swift.succeeded && swift.stderrText.contains("are for --trainer torch"), "\(swift.stderrText)")
        let uneven = try store.run(Self.torchArguments() + ["--gpus", "3"])
        #expect(!uneven.succeeded && uneven.stderrText.contains("--gpus 3"), "\(uneven.stderrText)")
    }
}
