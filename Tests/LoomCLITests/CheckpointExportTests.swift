import Foundation
import LoomTar
import LoomTestSupport
import Testing

extension CLITests {
    /// torchvision's models in the torch interpreter, loaded as tools/workers/torch_trainer.py
    /// loads them (PyPI's torchvision is a CUDA build whose custom ops do not load on a CPU torch;
    /// the models need none). tools/setup installs it into .venv-torchvision, put on PYTHONPATH
    /// here only (tools/workers/requirements-torchvision.txt). Run with the check's arguments;
    /// prints per-class correct counts.
    static let torchvisionCheck = #"""
        import json, os, subprocess, sys, types
        import numpy as np
        import torch
        from safetensors.torch import load_file

        def import_torchvision():
            try:
                import torchvision
                return torchvision
            except Exception:
                for name in [n for n in sys.modules if n == "torchvision" or n.startswith("torchvision.")]:
                    del sys.modules[name]
                sys.modules["torchvision._meta_registrations"] = types.ModuleType("torchvision._meta_registrations")
                import torchvision
                return torchvision

        torchvision = import_torchvision()
        if sys.argv[1] == "--probe":
            sys.exit(0)
        loom, store, weights, model, classes, selection, size = sys.argv[1:8]
        net = getattr(torchvision.models, model)(num_classes=int(classes))
        net.load_state_dict(load_file(weights), strict=True)
        net.eval()
        server = subprocess.Popen([loom, "serve", "--store", store, "--port", "0", "--json"], stdout=subprocess.PIPE,
                                  stderr=subprocess.DEVNULL, text=True, env=dict(os.environ, CI="1"))
        try:
            url = json.loads(server.stdout.readline())["listening"]
            from loom_client import LoomClient
            mean = np.array([0.485, 0.456, 0.406], dtype=np.float32)
            std = np.array([0.229, 0.224, 0.225], dtype=np.float32)
            correct = [0] * int(classes)
            with torch.no_grad():
                for batch in LoomClient(url).batches(selection, batch=64, size=int(size), augment="eval"):
                    x = (batch.pixels.astype(np.float32) / 255 - mean) / std
                    predicted = net(torch.from_numpy(x).permute(0, 3, 1, 2).contiguous()).argmax(1).tolist()
                    for label, guess in zip(batch.labels.tolist(), predicted):
                        correct[label] += int(label == guess)
            print(json.dumps(correct))
        finally:
            server.terminate()
            server.wait(30)
        """#

    static let torchvisionPath = [TorchPython.repository + "/.venv-torchvision", TorchPython.repository + "/tools/python"]
        .joined(separator: ":")

    static let torchvisionPython: String? = {
        guard let python = TorchPython.interpreter else { return nil }
        return (try? TorchPython.run(python, ["-c", torchvisionCheck, "--probe"], environment: ["PYTHONPATH": torchvisionPath]))?.status == 0
            ? python : nil
    }()

    /// In CI tools/setup has installed torch and torchvision, so the test runs there (and fails if
    /// they do not load) rather than being skipped.
    static let inCI = !(ProcessInfo.processInfo.environment["CI"] ?? "").isEmpty

    @Test("loom checkpoint export: a Swift-trained resnet18 loads into torchvision's resnet18 (strict load_state_dict) and classifies the eval split exactly as the run's evaluation did",
          .enabled(if: torchvisionPython != nil || inCI, "needs a Python with torch, safetensors, numpy and torchvision's models (tools/setup)"))
    func checkpointExportLoadsIntoTorchvision() throws {
        let python = try #require(Self.torchvisionPython, "torch and torchvision's models do not load (PYTHONPATH \(Self.torchvisionPath)); run tools/setup")
        let temp = try ScratchDirectory()
        let data = temp.appending("data"), store = CLIStore(temp.appending("store"))
        try Loom.ok(["dataset", "fashion-mnist", data, "--train-per-class", "16", "--val-per-class", "8"])
        let classes = try temp.write("trouser\nbag\nsneaker\n", to: "classes.txt")
        try store.ingest(data, dataset: "fm", ["--classes", classes])
        let summary = try #require(try store.ok(["train", "--train", "fm:train", "--eval", "fm:val", "--model", "resnet18", "--size", "32",
                                                 "--batch", "8", "--epochs", "3", "--threads", "2", "--json"], timeout: .seconds(300))
            .stdoutText.split(separator: "\n").last)
        let object = try #require(try JSONSerialization.jsonObject(with: Data(summary.utf8)) as? [String: Any])
        let runID = try #require(object["run_id"] as? Int)
        let expected = try #require((object["per_class"] as? [[String: Any]])?.compactMap { $0["correct"] as? Int })
        #expect(expected.count == 3 && Set(expected).count > 1, "the model tells the classes apart somewhat: \(expected)")

        let weights = temp.appending("model.safetensors")
        let export = try store.ok(["checkpoint", "export", "\(runID)", weights, "--json"]).decode(CheckpointExportJSON.self)
        #expect(export.tensors == 122 && export.epoch == 3, "\(export)")
        // The run stored its weights as safetensors: the export is the checkpoint's own member.
        let digest = try #require(object["checkpoint"] as? String)
        let members = try TarReader.members(of: Array(store.cat(digest)), name: digest)
        #expect(members.keys.sorted() == ["loom.json", "model.safetensors", "optimizer.loomt"], "\(members.keys)")
        #expect(members["model.safetensors"] == Array(try Data(contentsOf: URL(fileURLWithPath: weights))))
        let check = try TorchPython.run(python, ["-c", Self.torchvisionCheck, try LoomBinary.located.get(), store.path, weights, "resnet18", "3", "fm:val", "32"],
                                        environment: ["PYTHONPATH": Self.torchvisionPath])
        #expect(check.status == 0, "\(check.stdout)")
        let counted = try JSONDecoder().decode([Int].self, from: Data(check.stdout.utf8))
        #expect(counted == expected, "torchvision's per-class correct counts vs the run's: \(counted) vs \(expected)")
        let again = try store.run(["checkpoint", "export", "\(runID)", weights, "--epoch", "1"])
        #expect(!again.succeeded, "a different checkpoint onto the same file is refused: \(again)")
    }

    struct CheckpointExportJSON: Decodable {
        var run: Int
        var epoch: Int
        var tensors: Int
        var bytes: Int
    }
}
