import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import LoomStore

/// One `process:` worker: starts `/bin/sh -c CMD`, checks its handshake, sends batches as JSON
/// lines and reads the answers with a deadline, restarting the worker after a crash, a timeout
/// or garbage. The protocol is described at the top of `ProcessBackend.swift`.
final class ProcessWorker: @unchecked Sendable {
    /// Who the worker says it is (from the handshake).
    struct Identity: Equatable, Sendable {
        var name: String
        var version: String
        var params: [String: String]
    }

    static let protocolName = "loom-worker"
    static let protocolVersion = 1

    /// The command as the user wrote it (what messages name).
    let command: String
    /// What `/bin/sh -c` runs: ``command`` with `python3` resolved (see ``WorkerPython``).
    let launch: String
    let role: String
    let timeouts: ProcessTimeouts
    /// Variables set for the worker on top of Loom's own (its device, for `--devices`).
    let environment: [String: String]
    private(set) var identity: Identity
    /// What the worker can serve (from the handshake's `constraints`).
    private(set) var constraints = GeneratorConstraints()
    /// How many times the worker was started (1 after init); for tests and messages.
    private(set) var starts = 0

    private let lock = NSLock()
    private var running: Running?
    private var nextID = 1

    /// A started worker and the threads talking to it.
    private final class Running {
        let process: Process
        let stdin: FileHandle
        let reader: LineReader
        /// Writes in flight (stdin is closed only when none is).
        let writes = DispatchGroup()

        init(process: Process, stdin: FileHandle, reader: LineReader) {
            self.process = process
            self.stdin = stdin
            self.reader = reader
        }
    }

    init(command: String, launch: String? = nil, environment: [String: String] = [:], role: String, timeouts: ProcessTimeouts) throws {
        self.command = command
        self.launch = launch ?? command
        self.environment = environment
        self.role = role
        self.timeouts = timeouts
        identity = Identity(name: "", version: "", params: [:])
        let (running, identity, constraints) = try start()
        self.running = running
        self.identity = identity
        self.constraints = constraints
    }

    /// `init`, with a failure to start explained: what a `process:` worker must do and which
    /// other backends exist.
    static func starting(command: String, launch: String? = nil, environment: [String: String] = [:], role: String,
                         timeouts: ProcessTimeouts, others: [String]) throws -> ProcessWorker {
        do {
            return try ProcessWorker(command: command, launch: launch, environment: environment, role: role, timeouts: timeouts)
        } catch {
            let ran = launch.map { $0 == command ? "" : "; it ran as: \($0)" } ?? ""
            throw PipelineError(wrapping: error, or: .unavailable, "\(error)\(ran)\n(a process: \(role) must speak the loom-worker protocol, see tools/workers/README.md; other \(role) backends: \(others.joined(separator: ", ")))")
        }
    }

    deinit {
        if let running { stop(running, graceful: true) }
    }

    /// Sends `payload` (with an `id` added) and maps the answer's `results` (one per item) through
    /// `parse`; any failure of the exchange itself fails every item.
    func exchange<T>(_ payload: [String: Any], count: Int, parse: ([String: Any]) throws -> T) -> [Result<T, any Error>] {
        lock.lock()
        defer { lock.unlock() }
        do {
            let results = try send(payload, count: count)
            return results.map { item in
                guard let object = item as? [String: Any] else {
                    return .failure(PipelineError(.internal, "worker \(command): a result is not a JSON object"))
                }
                if let error = object["error"] {
                    return .failure(PipelineError(.internal, "worker \(command): \(error)"))
                }
                return Result { try parse(object) }
            }
        } catch {
            return Array(repeating: .failure(error), count: count)
        }
    }

    /// Times the worker was started again after the first start.
    var restarts: Int {
        lock.lock()
        defer { lock.unlock() }
        return max(0, starts - 1)
    }

    /// Closes the worker's stdin and waits a little for it to exit (then kills it).
    func shutdown() {
        lock.lock()
        defer { lock.unlock() }
        if let running { stop(running, graceful: true) }
        running = nil
    }

    // MARK: - One batch

    private func send(_ payload: [String: Any], count: Int) throws -> [Any] {
        let running = try ensureRunning()
        let id = nextID
        nextID += 1
        var message = payload
        message["id"] = id
        var data: Data
        do {
            data = try JSONSerialization.data(withJSONObject: message)
        } catch {
            throw PipelineError(.internal, "worker \(command): cannot encode the request: \(error)")
        }
        data.append(0x0A)
        post(data, to: running)
        let answer = try readLine(from: running, timeout: timeouts.batch, what: "batch \(id)")
        guard let object = (try? JSONSerialization.jsonObject(with: answer)) as? [String: Any] else {
            restart(running)
            throw PipelineError(.internal, "worker \(command) answered batch \(id) with a line that is not a JSON object: \(Self.excerpt(answer)); the worker is restarted")
        }
        guard let answerID = object["id"] as? NSNumber, answerID.intValue == id else {
            restart(running)
            throw PipelineError(.internal, "worker \(command) answered batch \(id) with id \(object["id"].map { "\($0)" } ?? "missing"); the worker is restarted")
        }
        if let error = object["error"] {
            throw PipelineError(.internal, "worker \(command) failed batch \(id): \(error)")
        }
        guard let results = object["results"] as? [Any] else {
            restart(running)
            throw PipelineError(.internal, "worker \(command) answered batch \(id) without a \"results\" array; the worker is restarted")
        }
        guard results.count == count else {
            restart(running)
            throw PipelineError(.internal, "worker \(command) answered batch \(id) with \(results.count) results for \(count) items; the worker is restarted")
        }
        return results
    }

    private func ensureRunning() throws -> Running {
        if let running { return running }
        let (started, newIdentity, _) = try start()
        guard newIdentity == identity else {
            stop(started, graceful: false)
            throw PipelineError(.conflict, "worker \(command) restarted as \(newIdentity.name) \(newIdentity.version) \(newIdentity.params), not \(identity.name) \(identity.version) \(identity.params) as before; refusing to mix their outputs")
        }
        running = started
        return started
    }

    private func restart(_ old: Running) {
        stop(old, graceful: false)
        if running === old { running = nil }
    }

    // MARK: - Starting and stopping

    private func start() throws -> (Running, Identity, GeneratorConstraints) {
        signal(SIGPIPE, SIG_IGN)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/sh")
        process.arguments = ["-c", launch]
        if !environment.isEmpty {
            process.environment = ProcessInfo.processInfo.environment.merging(environment) { _, set in set }
        }
        let input = Pipe()
        let output = Pipe()
        process.standardInput = input
        process.standardOutput = output
        process.standardError = FileHandle.standardError
        do {
            try process.run()
        } catch {
            throw PipelineError(.unavailable, "cannot start worker \(command): \(error)")
        }
        starts += 1
        let running = Running(process: process, stdin: input.fileHandleForWriting, reader: LineReader(output.fileHandleForReading))
        do {
            let line = try readLine(from: running, timeout: timeouts.start, what: "its handshake")
            let (identity, constraints) = try handshake(line)
            return (running, identity, constraints)
        } catch {
            stop(running, graceful: false)
            throw error
        }
    }

    private func handshake(_ line: Data) throws -> (Identity, GeneratorConstraints) {
        let expected = #"{"protocol":"loom-worker","version":1,"role":"\#(role)","name":...,"model_version":...,"params":{...}}"#
        guard let object = (try? JSONSerialization.jsonObject(with: line)) as? [String: Any] else {
            throw PipelineError(.invalidInput, "worker \(command) did not start with a loom-worker handshake; its first line was \(Self.excerpt(line)); expected \(expected)")
        }
        guard object["protocol"] as? String == Self.protocolName else {
            throw PipelineError(.invalidInput, "worker \(command) speaks protocol \(object["protocol"].map { "\($0)" } ?? "(none)"), not \(Self.protocolName); expected \(expected)")
        }
        guard let version = object["version"] as? NSNumber, version.intValue == Self.protocolVersion else {
            throw PipelineError(.invalidInput, "worker \(command) speaks loom-worker version \(object["version"].map { "\($0)" } ?? "(none)"); this Loom speaks version \(Self.protocolVersion)")
        }
        guard let role = object["role"] as? String, role == self.role else {
            throw PipelineError(.invalidInput, "worker \(command) is a \(object["role"].map { "\($0)" } ?? "(no role)"), not a \(self.role)")
        }
        guard let name = object["name"] as? String, !name.trimmingCharacters(in: .whitespaces).isEmpty else {
            throw PipelineError(.invalidInput, "worker \(command): the handshake has no \"name\"")
        }
        let modelVersion = object["model_version"].map(Self.text) ?? ""
        var params: [String: String] = [:]
        if let raw = object["params"] {
            guard let dictionary = raw as? [String: Any] else {
                throw PipelineError(.invalidInput, "worker \(command): the handshake's \"params\" is not an object")
            }
            for (key, value) in dictionary { params[key] = Self.text(value) }
        }
        return (Identity(name: name, version: modelVersion, params: params), try constraints(object["constraints"]))
    }

    /// The handshake's optional `constraints` object. Keys this Loom does not know are ignored,
    /// so a newer worker can declare more.
    private func constraints(_ raw: Any?) throws -> GeneratorConstraints {
        guard let raw, !(raw is NSNull) else { return GeneratorConstraints() }
        guard let object = raw as? [String: Any] else {
            throw PipelineError(.invalidInput, "worker \(command): the handshake's \"constraints\" is not an object")
        }
        var result = GeneratorConstraints()
        if let value = object["size_multiple"] {
            guard !(value is String), let number = value as? NSNumber,
                  number.doubleValue == number.doubleValue.rounded(), number.intValue >= 1 else {
                throw PipelineError(.invalidInput, "worker \(command): the handshake's constraints.size_multiple is \(Self.text(value)), not a positive integer")
            }
            result.sizeMultiple = number.intValue
        }
        return result
    }

    /// Kills the worker's process group (or, gracefully, closes its stdin first and waits up to 3 s).
    private func stop(_ running: Running, graceful: Bool) {
        let process = running.process
        if graceful, running.writes.wait(timeout: .now()) == .success {
            try? running.stdin.close()
            let deadline = Date().addingTimeInterval(3)
            while process.isRunning, Date() < deadline { usleep(10_000) }
        }
        let pid = process.processIdentifier
        if pid > 0 {
            // Foundation starts the child in its own process group: kill the shell and the model with it.
            kill(-pid, SIGKILL)
            kill(pid, SIGKILL)
        }
        let deadline = Date().addingTimeInterval(5)
        while process.isRunning, Date() < deadline { usleep(5_000) }
    }

    // MARK: - Pipes

    private func post(_ data: Data, to running: Running) {
        let handle = running.stdin
        let group = running.writes
        group.enter()
        // On a thread of its own: a worker that does not read must not block Loom past the timeout.
        Thread.detachNewThread {
            defer { group.leave() }
            let fd = handle.fileDescriptor
            data.withUnsafeBytes { buffer in
                guard var pointer = buffer.baseAddress else { return }
                var left = buffer.count
                while left > 0 {
                    let wrote = write(fd, pointer, left)
                    if wrote < 0 {
                        if errno == EINTR { continue }
                        return  // EPIPE: the worker is gone; the reader sees that
                    }
                    left -= wrote
                    pointer += wrote
                }
            }
        }
    }

    private func readLine(from running: Running, timeout: Double, what: String) throws -> Data {
        let deadline = DispatchTime.now() + timeout
        while true {
            switch running.reader.next(deadline: deadline) {
            case .line(let line):
                if line.allSatisfy({ $0 == 0x20 || $0 == 0x09 || $0 == 0x0D }) { continue }
                return line
            case .timeout:
                restart(running)
                throw PipelineError(.unavailable, "worker \(command) did not send \(what) within \(Self.seconds(timeout)) s; it was killed\(what.hasPrefix("batch") ? " and will be restarted" : "")")
            case .end:
                restart(running)
                let status = running.process.isRunning ? "" : " with status \(running.process.terminationStatus)"
                throw PipelineError(.unavailable, "worker \(command) exited\(status) before sending \(what) (see its stderr above)\(what.hasPrefix("batch") ? "; it will be restarted" : "")")
            }
        }
    }

    // MARK: - Formatting

    static func text(_ value: Any) -> String {
        if let string = value as? String { return string }
        if let data = try? JSONSerialization.data(withJSONObject: value, options: [.fragmentsAllowed, .sortedKeys]),
           let string = String(data: data, encoding: .utf8) {
            return string
        }
        return "\(value)"
    }

    static func excerpt(_ line: Data) -> String {
        let text = String(decoding: line.prefix(200), as: UTF8.self)
        return "\"" + text + (line.count > 200 ? "…" : "") + "\""
    }

    static func seconds(_ value: Double) -> String {
        value == value.rounded() ? String(Int(value)) : String(value)
    }
}

/// Reads newline-separated lines from a pipe on a thread of its own, so a reader can wait for
/// the next line with a deadline.
final class LineReader: @unchecked Sendable {
    enum Event {
        case line(Data)
        case end
        case timeout
    }

    private let lock = NSLock()
    private var lines: [Data] = []
    private var ended = false
    private let available = DispatchSemaphore(value: 0)

    init(_ handle: FileHandle) {
        Thread.detachNewThread { [self] in
            // The handle stays alive (and its descriptor open) until this loop ends.
            let fd = handle.fileDescriptor
            var buffer = Data()
            var chunk = [UInt8](repeating: 0, count: 65536)
            while true {
                let count = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
                if count < 0, errno == EINTR { continue }
                if count <= 0 { break }
                buffer.append(contentsOf: chunk[0..<count])
                while let newline = buffer.firstIndex(of: 0x0A) {
                    push(Data(buffer[buffer.startIndex..<newline]))
                    buffer.removeSubrange(buffer.startIndex...newline)
                }
            }
            if !buffer.isEmpty { push(buffer) }
            lock.lock()
            ended = true
            lock.unlock()
            available.signal()
            withExtendedLifetime(handle) {}
        }
    }

    private func push(_ line: Data) {
        lock.lock()
        lines.append(line)
        lock.unlock()
        available.signal()
    }

    func next(deadline: DispatchTime) -> Event {
        if available.wait(timeout: deadline) == .timedOut { return .timeout }
        lock.lock()
        defer { lock.unlock() }
        if !lines.isEmpty { return .line(lines.removeFirst()) }
        // Only the end is left: keep it visible to later calls too.
        available.signal()
        return .end
    }
}
