import Foundation
import Glibc

// Runs the real `loom` executable as a child process: the CLI tests drive what a user drives.

/// Where the built `loom` binary is, or why it could not be found.
enum LoomBinary {
    /// The first candidate that exists: `$LOOM_BIN`; `loom` next to the test bundle
    /// (`Bundle.main`); `loom` next to the test executable (`CommandLine.arguments[0]`);
    /// `.build/debug/loom` of the package this file belongs to (`#filePath`).
    static let located: Result<String, LocateError> = locate()

    struct LocateError: Error, CustomStringConvertible {
        var tried: [String]
        var description: String {
            "cannot find the `loom` binary; tried:\n  " + tried.joined(separator: "\n  ")
                + "\nbuild it first (`swift build --build-tests`, which tools/test runs) or set LOOM_BIN"
        }
    }

    /// The binary's path; throws a message listing every place tried.
    static func path() throws -> String { try located.get() }

    private static func locate(filePath: String = #filePath) -> Result<String, LocateError> {
        let files = FileManager.default
        if let explicit = ProcessInfo.processInfo.environment["LOOM_BIN"], !explicit.isEmpty {
            return files.isExecutableFile(atPath: explicit)
                ? .success(explicit) : .failure(LocateError(tried: ["$LOOM_BIN=\(explicit) (not an executable file)"]))
        }
        var candidates: [String] = []
        let bundle = Bundle.main.bundleURL.standardizedFileURL
        candidates.append(bundle.appendingPathComponent("loom").path)
        // On macOS the bundle is the .xctest directory; `loom` sits beside it.
        candidates.append(bundle.deletingLastPathComponent().appendingPathComponent("loom").path)
        if let argument0 = CommandLine.arguments.first, !argument0.isEmpty {
            let executable = URL(fileURLWithPath: argument0, relativeTo: URL(fileURLWithPath: files.currentDirectoryPath))
            candidates.append(executable.standardizedFileURL.resolvingSymlinksInPath().deletingLastPathComponent()
                .appendingPathComponent("loom").path)
        }
        // Tests/LoomCLITests/LoomProcess.swift -> package root.
        let packageRoot = URL(fileURLWithPath: filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
        candidates.append(packageRoot.appendingPathComponent(".build/debug/loom").path)
        for candidate in candidates where files.isExecutableFile(atPath: candidate) {
            var isDirectory: ObjCBool = false
            if files.fileExists(atPath: candidate, isDirectory: &isDirectory), !isDirectory.boolValue {
                return .success(candidate)
            }
        }
        return .failure(LocateError(tried: candidates))
    }
}

/// What one `loom` run did.
struct LoomRun: CustomStringConvertible, Sendable {
    var arguments: [String]
    /// The exit status, or the signal number when ``signaled``.
    var status: Int32
    /// Killed by a signal (our SIGKILL, or a crash).
    var signaled: Bool
    /// Ran past its time limit and was killed.
    var timedOut: Bool
    var stdout: Data
    var stderr: Data
    var seconds: Double

    var stdoutText: String { String(decoding: stdout, as: UTF8.self) }
    var stderrText: String { String(decoding: stderr, as: UTF8.self) }
    var succeeded: Bool { !signaled && !timedOut && status == 0 }

    /// The command, how it ended, and its output (clipped), for failure messages.
    var description: String {
        let how = timedOut ? "timed out" : signaled ? "killed by signal \(status)" : "exit \(status)"
        return "loom \(arguments.joined(separator: " ")) -> \(how) after \(String(format: "%.2f", seconds)) s\n"
            + "--- stdout:\n\(Self.clip(stdoutText))\n--- stderr:\n\(Self.clip(stderrText))"
    }

    private static func clip(_ text: String, limit: Int = 4000) -> String {
        text.count <= limit ? text : String(text.prefix(limit)) + "\n... (\(text.count - limit) more characters)"
    }

    /// Decodes stdout as one JSON document.
    func decode<T: Decodable>(_ type: T.Type) throws -> T {
        do {
            return try JSONDecoder().decode(type, from: stdout)
        } catch {
            throw LoomFailure("cannot decode stdout as \(T.self): \(error)", run: self)
        }
    }

    /// Decodes stdout as JSON lines (one document per non-empty line).
    func decodeLines<T: Decodable>(_ type: T.Type) throws -> [T] {
        let decoder = JSONDecoder()
        var values: [T] = []
        for line in stdout.split(separator: 0x0A) where !line.isEmpty {
            do {
                values.append(try decoder.decode(type, from: Data(line)))
            } catch {
                throw LoomFailure("cannot decode a stdout line as \(T.self): \(error): \(String(decoding: line, as: UTF8.self))", run: self)
            }
        }
        return values
    }
}

/// A `loom` run that did not do what the test needed.
struct LoomFailure: Error, CustomStringConvertible {
    var message: String
    var run: LoomRun?

    init(_ message: String, run: LoomRun? = nil) {
        self.message = message
        self.run = run
    }

    var description: String { run.map { "\(message)\n\($0)" } ?? message }
}

/// A `loom` child process started in the background.
final class LoomChild: @unchecked Sendable {
    let arguments: [String]
    private let process: Process
    private let stdoutURL: URL
    private let stderrURL: URL
    private let started = ContinuousClock.now
    private let exited = DispatchSemaphore(value: 0)
    private var finished: LoomRun?
    private var killedForTimeout = false

    /// Starts `loom arguments` with `$CI=1` (no progress lines) and `environment` on top of ours
    /// (minus `LOOM_STORE` and `LOOM_SHARD_BYTES`, so the developer's settings cannot leak in).
    init(_ arguments: [String], environment: [String: String] = [:]) throws {
        self.arguments = arguments
        let binary = try LoomBinary.path()
        let scratch = FileManager.default.temporaryDirectory
        let id = UUID().uuidString
        stdoutURL = scratch.appendingPathComponent("loom-cli-\(id).stdout")
        stderrURL = scratch.appendingPathComponent("loom-cli-\(id).stderr")
        for url in [stdoutURL, stderrURL] {
            guard FileManager.default.createFile(atPath: url.path, contents: nil) else {
                throw LoomFailure("cannot create \(url.path)")
            }
        }
        process = Process()
        process.executableURL = URL(fileURLWithPath: binary)
        process.arguments = arguments
        var env = ProcessInfo.processInfo.environment
        env["LOOM_STORE"] = nil
        env["LOOM_SHARD_BYTES"] = nil
        env["CI"] = "1"
        env.merge(environment) { _, new in new }
        process.environment = env
        process.standardInput = FileHandle.nullDevice
        let out = try FileHandle(forWritingTo: stdoutURL)
        let err = try FileHandle(forWritingTo: stderrURL)
        defer {
            try? out.close()
            try? err.close()
        }
        process.standardOutput = out
        process.standardError = err
        let exited = self.exited
        process.terminationHandler = { _ in exited.signal() }
        try process.run()
    }

    var pid: Int32 { process.processIdentifier }
    var isRunning: Bool { process.isRunning }
    var elapsed: Duration { ContinuousClock.now - started }

    /// Sends `signal` (SIGKILL by default) to the child.
    func kill(_ signal: Int32 = SIGKILL) {
        if process.isRunning { _ = Glibc.kill(process.processIdentifier, signal) }
    }

    /// Waits for the child to end (killing it after `timeout`) and collects its output.
    func wait(timeout: Duration = .seconds(120)) -> LoomRun {
        if let finished { return finished }
        let remaining = max(0, (timeout - elapsed).seconds)
        if exited.wait(timeout: .now() + remaining) == .timedOut {
            killedForTimeout = true
            kill(SIGKILL)
            exited.wait()
        }
        process.waitUntilExit()
        let signaled = process.terminationReason == .uncaughtSignal
        let run = LoomRun(
            arguments: arguments, status: process.terminationStatus, signaled: signaled, timedOut: killedForTimeout,
            stdout: (try? Data(contentsOf: stdoutURL)) ?? Data(), stderr: (try? Data(contentsOf: stderrURL)) ?? Data(),
            seconds: elapsed.seconds)
        try? FileManager.default.removeItem(at: stdoutURL)
        try? FileManager.default.removeItem(at: stderrURL)
        finished = run
        return run
    }

    deinit {
        if finished == nil {
            kill(SIGKILL)
            _ = wait(timeout: .seconds(10))
        }
    }
}

enum Loom {
    /// Runs `loom arguments` to the end (killed after `timeout`).
    static func run(_ arguments: [String], environment: [String: String] = [:], timeout: Duration = .seconds(120)) throws -> LoomRun {
        try LoomChild(arguments, environment: environment).wait(timeout: timeout)
    }

    /// Starts `loom arguments` in the background.
    static func start(_ arguments: [String], environment: [String: String] = [:]) throws -> LoomChild {
        try LoomChild(arguments, environment: environment)
    }

    /// Runs `loom arguments` and throws, with the run's output, unless it exits 0.
    @discardableResult
    static func ok(_ arguments: [String], environment: [String: String] = [:], timeout: Duration = .seconds(120)) throws -> LoomRun {
        let run = try run(arguments, environment: environment, timeout: timeout)
        guard run.succeeded else { throw LoomFailure("expected exit 0", run: run) }
        return run
    }
}

extension Duration {
    var seconds: Double { Double(components.seconds) + Double(components.attoseconds) / 1e18 }
}
