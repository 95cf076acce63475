import Foundation
import LoomPython
import LoomStore

/// Where and how `loom train --trainer torch` runs: operational settings, not part of the run's
/// identity (like threads; the global batch, the recipe and the data are).
public struct TorchOptions: Sendable, Hashable {
    /// `auto` (CUDA when torch sees a GPU, else the CPU), `cpu`, `cuda` or `cuda:N`; with several
    /// ranks, rank R uses `cuda:N+R`.
    public var device: String
    /// Ranks on this machine (torch.distributed: NCCL on CUDA, gloo on the CPU); each gets
    /// `batch / gpus` samples a step from its own rank of the loader.
    public var gpus: Int
    /// `--python PATH`; nil: ``PythonInterpreter/find(explicit:environment:executable:currentDirectory:checkout:)``.
    public var python: String?
    /// Environment of the worker processes (and where `LOOM_PYTHON` / `LOOM_TORCH_TRAINER` are read).
    public var environment: [String: String]

    public static let workerPath = "tools/workers/torch_trainer.py"
    /// Overrides where the worker script is.
    public static let workerEnvironmentKey = "LOOM_TORCH_TRAINER"

    public init(device: String = "auto", gpus: Int = 1, python: String? = nil,
                environment: [String: String] = ProcessInfo.processInfo.environment) {
        self.device = device
        self.gpus = gpus
        self.python = python
        self.environment = environment
    }

    func validate(batch: Int) throws {
        let devices = ["auto", "cpu", "cuda"]
        let indexed = device.hasPrefix("cuda:") && Int(device.dropFirst(5)).map { $0 >= 0 } == true
        guard devices.contains(device) || indexed else {
            throw TrainError(.invalidInput, "--device must be auto, cpu, cuda or cuda:N (got \"\(device)\")")
        }
        guard (1...64).contains(gpus) else { throw TrainError(.invalidInput, "--gpus must be 1...64 (got \(gpus))") }
        guard batch % gpus == 0, batch / gpus >= 2 else {
            throw TrainError(.invalidInput, "--batch \(batch) must split evenly into --gpus \(gpus) ranks of at least 2 samples (batch norm)")
        }
    }

    /// The interpreter and the worker script, or an error saying how to point Loom at them.
    func launch() throws -> (python: String, script: String) {
        let executable = Bundle.main.executableURL, currentDirectory = FileManager.default.currentDirectoryPath
        let repository = PythonInterpreter.repository(containing: Self.workerPath, executable: executable,
                                                      currentDirectory: currentDirectory)
        let interpreter: String
        do {
            interpreter = try PythonInterpreter.find(explicit: python, environment: environment, executable: executable,
                                                     currentDirectory: currentDirectory, checkout: repository)?.path ?? "python3"
        } catch {
            throw TrainError(.invalidInput, error.message)
        }
        if let script = environment[Self.workerEnvironmentKey], !script.isEmpty {
            guard FileManager.default.fileExists(atPath: script) else {
                throw TrainError(.invalidInput, "\(Self.workerEnvironmentKey)=\(script): no such file")
            }
            return (interpreter, script)
        }
        guard let repository else {
            throw TrainError(.unavailable, "cannot find \(Self.workerPath) above the loom executable or the current directory; run loom from the repository or set \(Self.workerEnvironmentKey)=PATH")
        }
        return (interpreter, repository + "/" + Self.workerPath)
    }
}
