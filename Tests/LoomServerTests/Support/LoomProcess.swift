import Foundation
import Glibc

// The real `loom` binary in child processes: these tests drive what a user runs.

struct TestFailure: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

enum LoomBinary {
    /// `$LOOM_BIN`, else `loom` beside the test executable, else `.build/debug/loom` of this package.
    static func path(filePath: String = #filePath) throws -> String {
        let files = FileManager.default
        if let explicit = ProcessInfo.processInfo.environment["LOOM_BIN"], !explicit.isEmpty {
            guard files.isExecutableFile(atPath: explicit) else { throw TestFailure("$LOOM_BIN=\(explicit) is not an executable file") }
            return explicit
        }
        var candidates = [Bundle.main.bundleURL.appendingPathComponent("loom").path]
        if let argument0 = CommandLine.arguments.first {
            let url = URL(fileURLWithPath: argument0, relativeTo: URL(fileURLWithPath: files.currentDirectoryPath))
            candidates.append(url.standardizedFileURL.resolvingSymlinksInPath().deletingLastPathComponent().appendingPathComponent("loom").path)
        }
        let root = URL(fileURLWithPath: filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
        candidates.append(root.appendingPathComponent(".build/debug/loom").path)
        for candidate in candidates where files.isExecutableFile(atPath: candidate) { return candidate }
        throw TestFailure("cannot find the loom binary (tried \(candidates)); run `swift build --build-tests` or set LOOM_BIN")
    }
}

/// One finished `loom` command.
struct LoomRun: CustomStringConvertible {
    var arguments: [String]
    var status: Int32
    var stdout: Data
    var stderr: Data

    var stdoutText: String { String(decoding: stdout, as: UTF8.self) }
    var stderrText: String { String(decoding: stderr, as: UTF8.self) }
    var description: String { "loom \(arguments.joined(separator: " ")) -> exit \(status)\n--- stdout:\n\(stdoutText.prefix(3000))\n--- stderr:\n\(stderrText.prefix(3000))" }

    func json() throws -> Any { try JSONSerialization.jsonObject(with: stdout) }

    func jsonLines() throws -> [Any] {
        try stdout.split(separator: 0x0A).filter { !$0.isEmpty }.map { try JSONSerialization.jsonObject(with: Data($0)) }
    }
}

/// A child process with stdout and stderr in files (no pipe to fill up and block it).
final class Child: @unchecked Sendable {
    // @unchecked: the Process is touched from the test's task only.
    let arguments: [String]
    let process = Process()
    let stdoutPath: String
    let stderrPath: String

    init(_ arguments: [String], environment: [String: String] = [:], directory: String) throws {
        self.arguments = arguments
        let id = UUID().uuidString
        stdoutPath = directory + "/child-\(id).stdout"
        stderrPath = directory + "/child-\(id).stderr"
        _ = FileManager.default.createFile(atPath: stdoutPath, contents: nil)
        _ = FileManager.default.createFile(atPath: stderrPath, contents: nil)
        process.executableURL = URL(fileURLWithPath: try LoomBinary.path())
        process.arguments = arguments
        var env = ProcessInfo.processInfo.environment
        env["LOOM_STORE"] = nil
        env["LOOM_TOKEN"] = nil
        env["CI"] = "1"
        env.merge(environment) { _, new in new }
        process.environment = env
        process.standardInput = FileHandle.nullDevice
        process.standardOutput = try FileHandle(forWritingTo: URL(fileURLWithPath: stdoutPath))
        process.standardError = try FileHandle(forWritingTo: URL(fileURLWithPath: stderrPath))
        try process.run()
    }

    var stdout: Data { FileManager.default.contents(atPath: stdoutPath) ?? Data() }
    var stderr: Data { FileManager.default.contents(atPath: stderrPath) ?? Data() }
    var stderrText: String { String(decoding: stderr, as: UTF8.self) }

    func signal(_ number: Int32) { if process.isRunning { kill(process.processIdentifier, number) } }

    /// Waits up to `timeout` seconds for the exit; kills it after that.
    func wait(timeout: Double = 60) -> LoomRun {
        let deadline = Date().addingTimeInterval(timeout)
        while process.isRunning && Date() < deadline { usleep(20_000) }
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        process.waitUntilExit()
        return LoomRun(arguments: arguments, status: process.terminationStatus, stdout: stdout, stderr: stderr)
    }

    deinit {
        if process.isRunning {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }
    }
}

enum Loom {
    /// Runs `loom arguments` to the end; throws unless it exits 0.
    @discardableResult
    static func ok(_ arguments: [String], in directory: String, environment: [String: String] = [:]) throws -> LoomRun {
        let run = try Child(arguments, environment: environment, directory: directory).wait(timeout: 180)
        guard run.status == 0 else { throw TestFailure("expected exit 0: \(run)") }
        return run
    }
}
