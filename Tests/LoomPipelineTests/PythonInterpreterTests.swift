import Foundation
import LoomPython
import LoomTestSupport
import Testing

/// The one finder behind `process:` workers and `loom train --trainer torch`: what the torch
/// trainer adds (the worker's checkout, found by walking up) on top of the search order that
/// WorkerPythonTests pins down.
@Suite("one Python finder for every worker")
struct PythonInterpreterTests {
    /// A checkout holding tools/workers/torch_trainer.py and an executable .venv/bin/python.
    static func checkout() throws -> (TemporaryDirectory, venv: String) {
        let temp = try TemporaryDirectory()
        _ = try temp.write("", to: "repo/tools/workers/torch_trainer.py")
        let python = try temp.write("#!/bin/sh\n", to: "repo/.venv/bin/python")
        try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: python)
        return (temp, python)
    }

    @Test func theWorkersCheckoutIsFoundFromBelowAndItsVenvIsTheLastPlaceLooked() throws {
        let (temp, venv) = try Self.checkout()
        let below = temp.appending("repo/tools/workers")
        let repository = try #require(PythonInterpreter.repository(containing: "tools/workers/torch_trainer.py", executable: nil,
                                                                   currentDirectory: below))
        #expect(URL(fileURLWithPath: repository).standardizedFileURL.path == URL(fileURLWithPath: temp.appending("repo")).standardizedFileURL.path)
        // An installed binary outside any checkout, run from below the repository: its venv.
        let choice = try PythonInterpreter.find(explicit: nil, environment: [:], executable: URL(fileURLWithPath: "/usr/local/bin/loom"),
                                                currentDirectory: below, checkout: repository)
        #expect(choice?.path == repository + "/.venv/bin/python" && choice?.source == "the project venv")
        #expect(FileManager.default.isExecutableFile(atPath: venv))
        #expect(try PythonInterpreter.find(explicit: nil, environment: [:], executable: nil, currentDirectory: below) == nil,
                "without the checkout: PATH's python3")
        #expect(PythonInterpreter.repository(containing: "tools/workers/no_such.py", executable: nil, currentDirectory: below) == nil)
    }

    @Test func theFlagAndTheVariableComeFirstAndMustBeExecutable() throws {
        let (temp, venv) = try Self.checkout()
        let repository = temp.appending("repo")
        let fromVariable = try PythonInterpreter.find(explicit: nil, environment: ["LOOM_PYTHON": venv], executable: nil,
                                                      currentDirectory: "/", checkout: repository)
        #expect(fromVariable == PythonInterpreter.Choice(path: venv, source: "LOOM_PYTHON"))
        let fromFlag = try PythonInterpreter.find(explicit: venv, environment: ["LOOM_PYTHON": "/nope"], executable: nil,
                                                  currentDirectory: "/", checkout: repository)
        #expect(fromFlag?.source == "--python")
        #expect(throws: PythonInterpreter.Problem.self) {
            try PythonInterpreter.find(explicit: repository + "/tools", environment: [:], executable: nil, currentDirectory: "/")
        }
        do {
            _ = try PythonInterpreter.find(explicit: nil, environment: ["LOOM_PYTHON": "/no/python"], executable: nil, currentDirectory: "/")
            Issue.record("a missing LOOM_PYTHON was accepted")
        } catch {
            #expect(error.message.contains("LOOM_PYTHON /no/python: no such file"))
        }
    }
}
