import Foundation
import LoomPython
import LoomStore
import LoomTestSupport
import Testing

@testable import LoomPipeline

@Suite("process: workers find their python")
struct WorkerPythonTests {
    /// A checkout: Package.swift, .build/debug/loom, and (when `venv`) an executable .venv/bin/python.
    static func checkout(venv: Bool) throws -> (TemporaryDirectory, executable: URL) {
        let temp = try TemporaryDirectory()
        _ = try temp.write("// swift-tools-version:6.1\n", to: "repo/Package.swift")
        _ = try temp.write("", to: "repo/.build/debug/loom")
        if venv {
            let python = try temp.write("#!/bin/sh\n", to: "repo/.venv/bin/python")
            try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: python)
        }
        return (temp, URL(fileURLWithPath: temp.appending("repo/.build/debug/loom")))
    }

    @Test func python3MeansTheVenvAboveTheBinary() throws {
        let (temp, executable) = try Self.checkout(venv: true)
        let venv = temp.appending("repo/.venv/bin/python")
        let (command, choice) = try WorkerPython.resolve(command: "python3 tools/workers/x.py --model m", explicit: nil,
                                                         environment: [:], executable: executable, currentDirectory: "/")
        #expect(command == "'\(venv)' tools/workers/x.py --model m")
        #expect(choice == WorkerPython.Choice(path: venv, source: "the project venv"))
        // Assignments before the program stay; `python` counts too.
        let assigned = try WorkerPython.resolve(command: "  HF_HOME=/tmp/h python -u x.py", explicit: nil, environment: [:],
                                                executable: executable, currentDirectory: "/").command
        #expect(assigned == "  HF_HOME=/tmp/h '\(venv)' -u x.py")
    }

    @Test func explicitThenEnvironmentThenVenvThenPath() throws {
        let (temp, executable) = try Self.checkout(venv: true)
        let other = try temp.write("#!/bin/sh\n", to: "other python")
        try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: other)
        let fromEnvironment = try WorkerPython.resolve(command: "python3 x.py", explicit: nil, environment: ["LOOM_PYTHON": other],
                                                       executable: executable, currentDirectory: "/")
        #expect(fromEnvironment.command == "'\(other)' x.py" && fromEnvironment.choice?.source == "LOOM_PYTHON")
        let fromFlag = try WorkerPython.resolve(command: "python3 x.py", explicit: other, environment: ["LOOM_PYTHON": "/nope"],
                                                executable: executable, currentDirectory: "/")
        #expect(fromFlag.choice?.source == "--python")

        let (bare, bareExecutable) = try Self.checkout(venv: false)
        let plain = try WorkerPython.resolve(command: "python3 x.py", explicit: nil, environment: [:],
                                             executable: bareExecutable, currentDirectory: bare.path)
        #expect(plain.command == "python3 x.py" && plain.choice == nil)
        // The current directory's .venv when the binary's checkout has none.
        let local = try WorkerPython.resolve(command: "python3 x.py", explicit: nil, environment: [:],
                                             executable: bareExecutable, currentDirectory: temp.appending("repo"))
        #expect(local.choice?.path == temp.appending("repo") + "/.venv/bin/python")
        // Other programs run as written.
        let other2 = try WorkerPython.resolve(command: "/usr/bin/python3.11 x.py", explicit: nil, environment: ["LOOM_PYTHON": other],
                                              executable: executable, currentDirectory: "/")
        #expect(other2.command == "/usr/bin/python3.11 x.py" && other2.choice == nil)
    }

    @Test func aWrongInterpreterIsNamed() throws {
        #expect {
            try WorkerPython.resolve(command: "python3 x.py", explicit: "/no/such/python", environment: [:], executable: nil, currentDirectory: "/")
        } throws: { "\($0)".contains("--python /no/such/python: no such file") }
        #expect {
            try WorkerPython.resolve(command: "python3 x.py", explicit: nil, environment: ["LOOM_PYTHON": "/tmp"], executable: nil, currentDirectory: "/")
        } throws: { "\($0)".contains("LOOM_PYTHON /tmp: not an executable file") }
        #expect {
            try WorkerPython.resolve(command: "./worker --x", explicit: "/usr/bin/python3", environment: [:], executable: nil, currentDirectory: "/")
        } throws: { "\($0)".contains("applies to a process: command that starts with python3") }
        #expect(throws: PipelineError.self) { try Backends.generator("builtin:procedural", python: "/usr/bin/python3") }
    }
}

@Suite("re-runs with nothing to do answer from the catalog")
struct CatalogAnswerTests {
    @Test func aCaptionRerunDoesNotStartTheWorker() throws {
        let (temp, store) = try PipelineFixture.makeStore()
        defer { withExtendedLifetime(temp) {} }
        let command = try StandInWorker.command(temp)
        let spec = "process:" + command
        #expect(try CatalogAnswer.captioner(store: store, spec: spec, dataset: "ds", split: nil) == nil, "nothing recorded yet")
        let writer = try store.makeWriter()
        let first = try CaptionRun.run(writer: writer, dataset: "ds", captioner: try Backends.captioner(spec))
        #expect(first.captioned == 5)

        let recorded = try #require(try CatalogAnswer.captioner(store: store, spec: spec, dataset: "ds", split: nil))
        #expect(recorded.name == "stand-in-captioner" && recorded.version == "7")
        let again = try CaptionRun.run(writer: writer, dataset: "ds", captioner: recorded)
        #expect(again.captioned == 0 && again.skipped == 5 && again.failed.isEmpty, "\(again)")
        let captioners = try store.read { try $0.captions.captionerCount() }
        #expect(captioners == 1, "the stand-in is the same captioner row")

        // One image without a caption: the worker must run.
        let firstCaption = try #require(try store.captionDetails().first).id
        try writer.transaction { try $0.captions.removeCaption(id: firstCaption) }
        #expect(try CatalogAnswer.captioner(store: store, spec: spec, dataset: "ds", split: nil) == nil)
        #expect(try CatalogAnswer.captioner(store: store, spec: "builtin:stats", dataset: "ds", split: nil) == nil)
    }

    @Test func aGenerateRerunDoesNotStartTheWorkerUnlessSomethingIsMissing() throws {
        let (temp, _, writer) = try GenerateRunTests.storeWithPrompts()
        defer { withExtendedLifetime(temp) {} }
        let store = writer.store
        let spec = "process:" + (try StandInWorker.command(temp, role: "generator"))
        let options = GenerateRunTests.options(2)
        _ = try GenerateRun.run(writer: writer, dataset: "ds", generator: try Backends.generator(spec), options: options)
        let recorded = try #require(try CatalogAnswer.generator(store: store, spec: spec, dataset: "ds", options: options))
        #expect(recorded.name == "stand-in-generator" && recorded.version == "7" && recorded.params["style"] == "plain")
        let again = try GenerateRun.run(writer: writer, dataset: "ds", generator: recorded, options: options)
        #expect(again.generated == 0 && again.skipped == 4 && again.failed.isEmpty, "\(again)")
        var more = options
        more.perPrompt = 3
        #expect(try CatalogAnswer.generator(store: store, spec: spec, dataset: "ds", options: more) == nil)
        var other = options
        other.steps = 21
        #expect(try CatalogAnswer.generator(store: store, spec: spec, dataset: "ds", options: other) == nil)
    }

    @Test func aFileNamedInTheCommandChangedAfterTheRecordingStartsTheWorker() throws {
        let temp = try TemporaryDirectory()
        let model = temp.appending("model dir")
        _ = try temp.write("{}", to: "model dir/unet/config.json")
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        let later = formatter.string(from: Date().addingTimeInterval(60))
        let command = "python3 x.py --model '\(model)' --seed=1"
        #expect(CatalogAnswer.unchanged(since: later, command: command))
        #expect(CatalogAnswer.unchanged(since: later, command: "python3 x.py --model=\(model.replacingOccurrences(of: " ", with: "\\ "))"))
        let earlier = formatter.string(from: Date().addingTimeInterval(-60))
        #expect(!CatalogAnswer.unchanged(since: earlier, command: command), "the folder is newer than the recording")
        // A file deep inside, changed after the recording.
        let past = Date().addingTimeInterval(-3600)
        for path in [model, model + "/unet", model + "/unet/config.json"] {
            try FileManager.default.setAttributes([.modificationDate: past], ofItemAtPath: path)
        }
        #expect(CatalogAnswer.words(command) == ["python3", "x.py", "--model", model, "--seed=1"])
        #expect(!CatalogAnswer.unchanged(since: formatter.string(from: past.addingTimeInterval(1)), command: command),
                "a status change (ctime) after the recording counts as a change")
        #expect(!CatalogAnswer.unchanged(since: "not a date", command: command))
    }
}

@Suite("generator constraints")
struct GeneratorConstraintTests {
    struct Picky: Generator {
        var name = "picky"
        var version = "1"
        var params: [String: String] = [:]
        var backend = "test"
        var constraints: GeneratorConstraints { GeneratorConstraints(sizeMultiple: 8) }
        func generate(_ batch: [GenerationRequest]) -> [Result<GeneratedImage, any Error>] {
            batch.map { _ in .failure(PipelineError("must not be asked")) }
        }
    }

    @Test func aSizeOutsideTheConstraintsIsRefusedBeforeAnyJob() throws {
        let (temp, store, writer) = try GenerateRunTests.storeWithPrompts()
        defer { withExtendedLifetime(temp) {} }
        var options = GenerateRunTests.options(1)
        options.width = 30
        #expect {
            try GenerateRun.run(writer: writer, dataset: "ds", generator: Picky(), options: options)
        } throws: { "\($0)".contains("--size 30x24: generator picky makes only sizes whose width and height are multiples of 8") && "\($0)".contains("e.g. --size 32x24") }
        let runs = try store.generateRunStatuses().count
        #expect(runs == 0)
    }
}
