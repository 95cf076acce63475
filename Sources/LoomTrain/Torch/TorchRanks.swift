import Foundation
import Glibc
import LoomStore
import Synchronization

/// The worker processes of one torch training run, one per rank, speaking the loom-torch-trainer
/// protocol (tools/workers/README.md): a handshake line, then one answer line per request,
/// optionally preceded by progress lines.
///
/// Every rank's stdout is read on a thread of its own into one inbox, so the run notices a rank
/// that exits while the others wait for it in a collective (they would wait for gloo's or NCCL's
/// timeout, half an hour): any rank's end fails the request and ``stop()`` kills them all.
final class TorchRanks {
    struct Handshake {
        var device: String
        var torchVersion: String
        var precision: String
    }

    let python: String
    let script: String
    let handshake: Handshake
    private var processes: [Process] = []
    private var inputs: [FileHandle] = []
    private let inbox = Inbox()
    private var nextID = 1
    private var stopped = false

    static let protocolName = "loom-torch-trainer"
    static let protocolVersion = 1

    /// Starts `world` ranks and waits for every handshake.
    init(python: String, script: String, world: Int, device: String, threads: Int, rendezvous: String,
         environment: [String: String]) throws {
        self.python = python
        self.script = script
        signal(SIGPIPE, SIG_IGN)
        var environment = environment
        environment["PYTHONUNBUFFERED"] = "1"
        for rank in 0..<world {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: python.contains("/") ? python : "/usr/bin/env")
            let arguments = [script, "--rank", "\(rank)", "--world", "\(world)", "--device", device, "--threads", "\(threads)"]
                + (world > 1 ? ["--rendezvous", rendezvous] : [])
            process.arguments = python.contains("/") ? arguments : [python] + arguments
            process.environment = environment
            let input = Pipe(), output = Pipe()
            process.standardInput = input
            process.standardOutput = output
            process.standardError = FileHandle.standardError
            do {
                try process.run()
            } catch {
                handshake = Handshake(device: "", torchVersion: "", precision: "")
                stop()
                throw TrainError(.unavailable, "cannot start the torch trainer (\(python) \(script)): \(error)")
            }
            processes.append(process)
            inputs.append(input.fileHandleForWriting)
            Self.read(output.fileHandleForReading.fileDescriptor, rank: rank, into: inbox)
        }
        var shakes: [Int: [String: Any]] = [:]
        var failure: TrainError?
        while shakes.count < world, failure == nil {
            switch inbox.next() {
            case let .line(rank, line):
                guard let object = (try? JSONSerialization.jsonObject(with: line)) as? [String: Any],
                      object["protocol"] as? String == Self.protocolName else {
                    failure = TrainError(.unavailable, "the torch trainer \(script) (rank \(rank)) did not start with a \(Self.protocolName) handshake; its first line was \(String(decoding: line.prefix(200), as: UTF8.self))")
                    break
                }
                guard (object["version"] as? NSNumber)?.intValue == Self.protocolVersion else {
                    failure = TrainError(.unavailable, "the torch trainer \(script) speaks \(Self.protocolName) version \(object["version"] ?? "none"); this Loom speaks \(Self.protocolVersion)")
                    break
                }
                shakes[rank] = object
            case let .ended(rank):
                failure = TrainError(.unavailable, """
                    the torch trainer (rank \(rank) of \(python) \(script)) exited before its handshake \
                    (\(Self.status(processes[rank]))); its error is above. It needs torch, torchvision, safetensors and numpy \
                    in that interpreter (choose one with --python PATH or LOOM_PYTHON)
                    """)
            }
        }
        if let failure {
            handshake = Handshake(device: "", torchVersion: "", precision: "")
            stop()
            throw failure
        }
        let first = shakes[0]!
        handshake = Handshake(device: first["device"] as? String ?? "?", torchVersion: first["torch_version"] as? String ?? "?",
                              precision: first["precision"] as? String ?? "?")
    }

    deinit { stop() }

    /// Sends one request per rank (each with its own payload, the same op and id) and returns the
    /// answers by rank; `progress` gets rank 0's progress lines.
    func request(_ op: String, _ payloads: [Int: [String: Any]], progress: ((Int, Int) -> Void)? = nil) throws -> [Int: [String: Any]] {
        let id = nextID
        nextID += 1
        for (rank, payload) in payloads.sorted(by: { $0.key < $1.key }) {
            var message = payload
            message["id"] = id
            message["op"] = op
            var data = try JSONSerialization.data(withJSONObject: message)
            data.append(0x0A)
            guard Self.write(data, to: inputs[rank].fileDescriptor) else {
                throw TrainError(.internal, "the torch trainer (rank \(rank)) stopped reading its requests (\(Self.status(processes[rank])))")
            }
        }
        var answers: [Int: [String: Any]] = [:]
        while answers.count < payloads.count {
            switch inbox.next() {
            case let .line(rank, line):
                guard let object = (try? JSONSerialization.jsonObject(with: line)) as? [String: Any] else {
                    throw TrainError(.internal, "the torch trainer (rank \(rank)) answered \(op) with a line that is not JSON: \(String(decoding: line.prefix(200), as: UTF8.self))")
                }
                guard (object["id"] as? NSNumber)?.intValue == id else {
                    throw TrainError(.internal, "the torch trainer (rank \(rank)) answered \(op) \(id) with id \(object["id"] ?? "none")")
                }
                if let error = object["error"] {
                    throw TrainError(.internal, "the torch trainer (rank \(rank)) failed \(op): \(error)")
                }
                if let pair = object["progress"] as? [NSNumber], pair.count == 2 {
                    if rank == 0 { progress?(pair[0].intValue, pair[1].intValue) }
                    continue
                }
                answers[rank] = object
            case let .ended(rank):
                throw TrainError(.internal, "the torch trainer (rank \(rank)) exited during \(op) (\(Self.status(processes[rank]))); its error is above")
            }
        }
        return answers
    }

    /// Closes every rank's stdin (the worker exits), waits up to 10 s, then kills what is left.
    func close() {
        guard !stopped else { return }
        for input in inputs { try? input.close() }
        let deadline = Date().addingTimeInterval(10)
        while processes.contains(where: \.isRunning), Date() < deadline { usleep(10_000) }
        stop()
    }

    /// Kills every rank now (after a failure: the others may be waiting in a collective).
    func stop() {
        guard !stopped else { return }
        stopped = true
        for process in processes where process.isRunning {
            let pid = process.processIdentifier
            kill(-pid, SIGKILL)
            kill(pid, SIGKILL)
        }
        for input in inputs { try? input.close() }
        let deadline = Date().addingTimeInterval(5)
        while processes.contains(where: \.isRunning), Date() < deadline { usleep(5_000) }
    }

    private static func status(_ process: Process) -> String {
        let deadline = Date().addingTimeInterval(2)
        while process.isRunning, Date() < deadline { usleep(5_000) }
        if process.isRunning { return "still running" }
        return process.terminationReason == .uncaughtSignal ? "signal \(process.terminationStatus)" : "exit status \(process.terminationStatus)"
    }

    private static func write(_ data: Data, to fd: Int32) -> Bool {
        data.withUnsafeBytes { buffer in
            guard var pointer = buffer.baseAddress else { return true }
            var left = buffer.count
            while left > 0 {
                let wrote = Glibc.write(fd, pointer, left)
                if wrote < 0 {
                    if errno == EINTR { continue }
                    return false
                }
                left -= wrote
                pointer += wrote
            }
            return true
        }
    }

    /// Reads `fd` on a thread of its own, posting each line, then the end.
    private static func read(_ fd: Int32, rank: Int, into inbox: Inbox) {
        Thread.detachNewThread {
            var pending = Data()
            var chunk = [UInt8](repeating: 0, count: 65536)
            while true {
                let count = chunk.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
                if count < 0, errno == EINTR { continue }
                if count <= 0 { break }
                pending.append(contentsOf: chunk[..<count])
                while let newline = pending.firstIndex(of: 0x0A) {
                    let line = pending[pending.startIndex..<newline]
                    if !line.isEmpty { inbox.post(.line(rank: rank, Data(line))) }
                    pending = Data(pending[(newline + 1)...])
                }
            }
            inbox.post(.ended(rank: rank))
        }
    }

    /// What the reader threads hand the run's thread.
    final class Inbox: Sendable {
        enum Event: Sendable {
            case line(rank: Int, Data)
            case ended(rank: Int)
        }

        private let events = Mutex<[Event]>([])
        private let ready = DispatchSemaphore(value: 0)

        func post(_ event: Event) {
            events.withLock { $0.append(event) }
            ready.signal()
        }

        func next() -> Event {
            ready.wait()
            return events.withLock { $0.removeFirst() }
        }
    }
}
