import Foundation
import LoomStore
import LoomTestSupport
import Testing

@testable import LoomPipeline

/// A python3 stand-in worker written into a temporary directory. Its first run misbehaves in the
/// way `mode` says (a state file marks the first run), later runs (after Loom restarts it) behave.
enum StandInWorker {
    static let script = #"""
    import base64, json, os, sys, time
    role, mode, state = sys.argv[1], sys.argv[2], sys.argv[3]
    first = not os.path.exists(state)
    if first:
        open(state, "w").close()
    def send(obj):
        sys.stdout.write(json.dumps(obj) + "\n")
        sys.stdout.flush()
    hello = {"protocol": "loom-worker", "version": 1, "role": role, "name": "stand-in-" + role,
             "model_version": "7", "params": {"temperature": 0.5, "style": "plain", "beams": 2}}
    if mode == "notjson":
        print("Loading model... done"); sys.exit(0)
    if mode == "protocol":
        hello["protocol"] = "something-else"
    if mode == "version":
        hello["version"] = 2
    if mode == "role":
        hello["role"] = "captioner" if role == "generator" else "generator"
    if mode == "exit":
        print("stand-in: cannot load the model", file=sys.stderr); sys.exit(3)
    if mode == "slowstart":
        time.sleep(30)
    if mode == "renamed" and not first:
        hello["name"] = "another-model"
    send(hello)
    png = "iVBORw0KGgoAAAANSUhEUgAAAAIAAAACCAIAAAD91JpzAAAAEElEQVR42mMInLgPiBggFAAr2gaByJ1g0wAAAABJRU5ErkJggg=="
    for line in sys.stdin:
        request = json.loads(line)
        items = request["images" if role == "captioner" else "requests"]
        if first and mode in ("crash", "renamed"):
            print("stand-in: crashing mid-batch", file=sys.stderr); sys.exit(1)
        if first and mode == "hang":
            time.sleep(30)
        if first and mode == "garbage":
            print("Traceback (most recent call last): oops"); sys.stdout.flush(); continue
        if first and mode == "wrongid":
            send({"id": request["id"] + 100, "results": []}); continue
        if first and mode == "wrongcount":
            send({"id": request["id"], "results": [{"caption": "only one"}]}); continue
        if first and mode == "batcherror":
            send({"id": request["id"], "error": "CUDA out of memory"}); continue
        if role == "captioner":
            results = [{"caption": "stand-in caption of %d bytes" % len(base64.b64decode(i["data"]))} for i in items]
        else:
            results = [{"media_type": "image/png", "data": png, "seconds": 0.25} for i in items]
        if mode == "itemerror":
            results[0] = {"error": "cannot read this one"}
        send({"id": request["id"], "results": results})
    """#

    /// The command line for a stand-in of `role` behaving as `mode`.
    static func command(_ temp: TemporaryDirectory, role: String = "captioner", mode: String = "good") throws -> String {
        let path = try temp.write(script, to: "worker.py")
        let state = temp.appending("state-\(role)-\(mode)-\(UUID().uuidString)")
        return "python3 '\(path)' \(role) \(mode) '\(state)'"
    }

    static let fast = ProcessTimeouts(batch: 5, start: 10)

    static func inputs(_ count: Int) -> [CaptionInput] {
        (0..<count).map { CaptionInput(realImageID: Int64($0), bytes: [UInt8](repeating: 7, count: 10 + $0), mediaType: "image/jpeg") }
    }

    static var repositoryRoot: URL {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    }

    static func message(_ error: (any Error)?) -> String { error.map { "\($0)" } ?? "" }
}

extension Result {
    var failureText: String {
        if case .failure(let error) = self { return "\(error)" }
        return ""
    }
}

@Suite("process: backends")
struct ProcessBackendTests {
    @Test func goodCaptionerDrivesCaptionRunUnderItsHandshakeName() throws {
        let (temp, store) = try PipelineFixture.makeStore()
        defer { withExtendedLifetime(temp) {} }
        let command = try StandInWorker.command(temp)
        let captioner = try Backends.captioner("process:" + command)
        #expect(captioner.name == "stand-in-captioner" && captioner.version == "7")
        #expect(captioner.params == ["temperature": "0.5", "style": "plain", "beams": "2"])
        #expect(captioner.backend == "process:" + command)
        let writer = try store.makeWriter()
        let summary = try CaptionRun.run(writer: writer, dataset: "ds", captioner: captioner, batchSize: 2)
        #expect(summary.captioned == 5 && summary.failed.isEmpty && summary.captioner == "stand-in-captioner", "\(summary)")
        let rows = try store.captionDetails()
        #expect(rows.count == 5)
        #expect(rows.allSatisfy { $0.captioner == "stand-in-captioner" && $0.text.hasPrefix("stand-in caption of ") })
        #expect(rows.allSatisfy { $0.captionerParams.contains(#""version":"7""#) })
        #expect(captioner.caption([]).isEmpty)
    }

    @Test func perItemErrorsFailOnlyTheirItem() throws {
        let temp = try TemporaryDirectory()
        let captioner = try ProcessCaptioner(command: try StandInWorker.command(temp, mode: "itemerror"), timeouts: StandInWorker.fast)
        let results = captioner.caption(StandInWorker.inputs(3))
        #expect(results[0].failureText.contains("cannot read this one"))
        #expect((try? results[1].get()) == "stand-in caption of 11 bytes")
        #expect(captioner.worker.starts == 1)
    }

    @Test func realBlip2WorkerScriptInDryRun() throws {
        let (temp, store) = try PipelineFixture.makeStore()
        defer { withExtendedLifetime(temp) {} }
        let script = StandInWorker.repositoryRoot.appendingPathComponent("tools/workers/blip2_captioner.py").path
        let captioner = try Backends.captioner("process:python3 '\(script)' --dry-run --model Salesforce/blip2-opt-2.7b --max-new-tokens 30")
        #expect(captioner.name == "blip2-opt-2.7b-dry-run" && captioner.version == "dry-run")
        #expect(captioner.params["model"] == "Salesforce/blip2-opt-2.7b" && captioner.params["max_new_tokens"] == "30")
        let summary = try CaptionRun.run(writer: try store.makeWriter(), dataset: "ds", captioner: captioner, batchSize: 3)
        #expect(summary.captioned == 5 && summary.failed.isEmpty, "\(summary)")
        let texts = try store.captionDetails().map(\.text)
        #expect(texts.allSatisfy { $0.contains("not a model") })
    }

    @Test func realSDWorkerScriptInDryRunDrivesGenerateRun() throws {
        let (temp, store, writer) = try GenerateRunTests.storeWithPrompts()
        defer { withExtendedLifetime(temp) {} }
        let script = StandInWorker.repositoryRoot.appendingPathComponent("tools/workers/sd_generator.py").path
        let generator = try Backends.generator("process:python3 '\(script)' --dry-run --model stabilityai/sdxl-turbo")
        #expect(generator.name == "sdxl-turbo-dry-run")
        let summary = try GenerateRun.run(writer: writer, dataset: "ds", generator: generator, options: GenerateRunTests.options(2))
        #expect(summary.generated == 4 && summary.failed.isEmpty, "\(summary)")
        let rows = try store.syntheticFacts()
        #expect(rows.count == 4)
        #expect(rows.allSatisfy { $0.mediaType == "image/png" && $0.lineage.generator == "sdxl-turbo-dry-run" })
    }

    @Test func crashMidBatchFailsTheBatchAndRestartsTheWorker() throws {
        let temp = try TemporaryDirectory()
        let captioner = try ProcessCaptioner(command: try StandInWorker.command(temp, mode: "crash"), timeouts: StandInWorker.fast)
        let first = captioner.caption(StandInWorker.inputs(2))
        #expect(first.count == 2 && first.allSatisfy { $0.failureText.contains("exited with status 1") }, "\(first)")
        let second = captioner.caption(StandInWorker.inputs(2))
        #expect(second.allSatisfy { (try? $0.get())?.hasPrefix("stand-in caption") == true }, "\(second)")
        #expect(captioner.worker.starts == 2)
    }

    @Test func generateRunRetriesAfterAWorkerCrash() throws {
        let (temp, _, writer) = try GenerateRunTests.storeWithPrompts()
        defer { withExtendedLifetime(temp) {} }
        let generator = try ProcessGenerator(command: try StandInWorker.command(temp, role: "generator", mode: "crash"), timeouts: StandInWorker.fast)
        let summary = try GenerateRun.run(writer: writer, dataset: "ds", generator: generator, options: GenerateRunTests.options(2))
        #expect(summary.generated == 4 && summary.failed.isEmpty, "\(summary)")
        #expect(generator.worker.starts == 2)
    }

    @Test func hangingWorkerTimesOutAndIsRestarted() throws {
        let temp = try TemporaryDirectory()
        let captioner = try ProcessCaptioner(command: try StandInWorker.command(temp, mode: "hang"), timeouts: ProcessTimeouts(batch: 1, start: 10))
        let start = Date()
        let first = captioner.caption(StandInWorker.inputs(1))
        #expect(first[0].failureText.contains("did not send batch 1 within 1 s"), "\(first)")
        #expect(Date().timeIntervalSince(start) < 5)
        let second = captioner.caption(StandInWorker.inputs(1))
        #expect((try? second[0].get()) == "stand-in caption of 10 bytes", "\(second)")
        #expect(captioner.worker.starts == 2)
    }

    @Test(arguments: [
        ("garbage", "not a JSON object: \"Traceback"),
        ("wrongid", "with id 101"),
        ("wrongcount", "1 results for 2 items"),
    ])
    func garbageFailsTheBatchClearlyAndRestarts(mode: String, expected: String) throws {
        let temp = try TemporaryDirectory()
        let command = try StandInWorker.command(temp, mode: mode)
        let captioner = try ProcessCaptioner(command: command, timeouts: StandInWorker.fast)
        let first = captioner.caption(StandInWorker.inputs(2))
        #expect(first.allSatisfy { $0.failureText.contains(expected) && $0.failureText.contains(command) }, "\(first)")
        let second = captioner.caption(StandInWorker.inputs(2))
        #expect(second.allSatisfy { (try? $0.get()) != nil }, "\(second)")
        #expect(captioner.worker.starts == 2)
    }

    @Test func batchErrorFailsTheBatchWithoutRestart() throws {
        let temp = try TemporaryDirectory()
        let captioner = try ProcessCaptioner(command: try StandInWorker.command(temp, mode: "batcherror"), timeouts: StandInWorker.fast)
        #expect(captioner.caption(StandInWorker.inputs(2)).allSatisfy { $0.failureText.contains("CUDA out of memory") })
        #expect(captioner.worker.starts == 1)
    }

    @Test(arguments: [
        ("notjson", "did not start with a loom-worker handshake; its first line was \"Loading model"),
        ("protocol", "speaks protocol something-else"),
        ("version", "speaks loom-worker version 2"),
        ("role", "is a generator, not a captioner"),
        ("exit", "exited with status 3 before sending its handshake"),
    ])
    func badHandshakeFailsClearly(mode: String, expected: String) throws {
        let temp = try TemporaryDirectory()
        let command = try StandInWorker.command(temp, mode: mode)
        do {
            _ = try ProcessCaptioner(command: command, timeouts: StandInWorker.fast)
            Issue.record("expected a handshake error")
        } catch {
            let text = "\(error)"
            #expect(text.contains(expected) && text.contains(command), "\(text)")
        }
    }

    @Test func slowHandshakeTimesOut() throws {
        let temp = try TemporaryDirectory()
        let start = Date()
        #expect {
            _ = try ProcessGenerator(command: try StandInWorker.command(temp, role: "generator", mode: "slowstart"), timeouts: ProcessTimeouts(batch: 1, start: 1))
        } throws: { "\($0)".contains("did not send its handshake within 1 s") }
        #expect(Date().timeIntervalSince(start) < 5)
    }

    @Test func aRestartedWorkerMustNameTheSameModel() throws {
        let temp = try TemporaryDirectory()
        let captioner = try ProcessCaptioner(command: try StandInWorker.command(temp, mode: "renamed"), timeouts: StandInWorker.fast)
        _ = captioner.caption(StandInWorker.inputs(1))
        let second = captioner.caption(StandInWorker.inputs(1))
        #expect(second[0].failureText.contains("restarted as another-model"), "\(second)")
    }

    @Test func timeoutsComeFromTheEnvironmentOrDefaults() {
        let timeouts = ProcessTimeouts.fromEnvironment(batchDefault: 120)
        if ProcessInfo.processInfo.environment["LOOM_PROCESS_TIMEOUT"] == nil { #expect(timeouts.batch == 120) }
        if ProcessInfo.processInfo.environment["LOOM_PROCESS_START_TIMEOUT"] == nil { #expect(timeouts.start == 1800) }
    }
}
