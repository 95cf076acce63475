import Foundation
import LoomStore

/// How many copies of a backend a stage runs at once: `--workers N` and/or
/// `--devices cuda:0,cuda:1,...` (one worker per entry).
public struct Fanout: Sendable, Equatable {
    /// One entry per worker: the device it runs on, or nil for "wherever the command says".
    public var devices: [String?]

    public static let single = Fanout(devices: [nil])

    public var count: Int { devices.count }

    /// - Parameters:
    ///   - workers: `--workers`; with `devices`, it must equal their count.
    ///   - devices: `--devices`, comma-separated.
    ///   - flags: the options' names, for messages.
    public init(workers: Int?, devices: String?, flags: (workers: String, devices: String) = ("--workers", "--devices")) throws {
        var list: [String] = []
        if let devices {
            list = devices.split(separator: ",", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) }
            guard !list.isEmpty, list.allSatisfy({ !$0.isEmpty && !$0.contains(where: \.isWhitespace) }) else {
                throw PipelineError(.invalidInput, "\(flags.devices) \"\(devices)\": expected a comma-separated list such as cuda:0,cuda:1")
            }
        }
        if let workers {
            guard workers >= 1 else { throw PipelineError(.invalidInput, "\(flags.workers) must be at least 1, not \(workers)") }
            if !list.isEmpty, workers != list.count {
                throw PipelineError(.invalidInput, "\(flags.workers) \(workers) with \(flags.devices) \(list.joined(separator: ",")): one worker runs per device, so give one of them or make them agree")
            }
        }
        self.devices = list.isEmpty ? Array(repeating: nil, count: workers ?? 1) : list
    }

    public init(devices: [String?]) {
        self.devices = devices.isEmpty ? [nil] : devices
    }

    /// What a `process:` worker on `device` gets: `{device}` in its command replaced and, for
    /// `cuda:N`, `CUDA_VISIBLE_DEVICES=N`. That GPU is then the worker's only one, so `{device}`
    /// becomes `cuda:0`, which is what torch calls it inside the worker. Other devices (`cpu`,
    /// `mps`, `cuda`) are substituted as written and set no variable.
    static func placement(of device: String?, in command: String) -> (command: String, environment: [String: String]) {
        guard let device else { return (command, [:]) }
        var environment = ["LOOM_WORKER_DEVICE": device]
        var visible = device
        if device.hasPrefix("cuda:"), let ordinal = Int(device.dropFirst("cuda:".count)), ordinal >= 0 {
            environment["CUDA_VISIBLE_DEVICES"] = String(ordinal)
            visible = "cuda:0"
        }
        return (command.replacingOccurrences(of: "{device}", with: visible), environment)
    }
}

/// What one worker of a stage did, for the summary JSON and the progress line.
public struct WorkerReport: Codable, Sendable, Hashable {
    /// The `--devices` entry it ran on; nil without `--devices`.
    public var device: String?
    /// Items of the batches it answered (failed ones included).
    public var items: Int
    /// Items per second of the time it spent answering.
    public var itemsPerSecond: Double
    /// Times its process was started again after a crash, hang or garbage.
    public var restarts: Int

    enum CodingKeys: String, CodingKey {
        case device, items, restarts
        case itemsPerSecond = "items_per_s"
    }

    /// One line per worker from a ``BatchPool``'s counts.
    static func list(devices: [String?], items: [Int], busy: [Double], restarts: [Int]) -> [WorkerReport] {
        devices.indices.map { index in
            WorkerReport(device: devices[index], items: items[index],
                         itemsPerSecond: busy[index] > 0 ? (Double(items[index]) / busy[index] * 100).rounded() / 100 : 0,
                         restarts: restarts[index])
        }
    }
}

/// The backends of one stage, one per worker, with the devices they run on.
public struct WorkerSet<Backend> {
    public var backends: [Backend]
    public var devices: [String?]

    public init(backends: [Backend], devices: [String?]) {
        precondition(!backends.isEmpty && backends.count == devices.count, "one device entry per backend")
        self.backends = backends
        self.devices = devices
    }

    public init(_ backend: Backend) {
        self.init(backends: [backend], devices: [nil])
    }

    public var first: Backend { backends[0] }
}

/// Hands batches of a shared queue to whichever worker is free (one thread per worker) and gives
/// their answers, in the order they arrive, to one committer: the thread that called ``run``.
/// So the store sees a single writer doing bytes-then-rows exactly as a one-worker run would,
/// and only the backends' calls run side by side.
final class BatchPool<Item, Answer>: @unchecked Sendable {
    // @unchecked Sendable: every mutable field below is read and written only with `condition`
    // locked; `work` is called by one thread per worker index, each on its own backend.
    private let condition = NSCondition()
    private var queue: [Item]
    private var next = 0
    private var inFlight = 0
    private var stopped = false
    private var answers: [(worker: Int, batch: [Item], answer: Answer)] = []
    private var items: [Int]
    private var busy: [Double]
    private let batchSize: Int
    private let work: (Int, [Item]) -> Answer

    init(items: [Item], batchSize: Int, workers: Int, work: @escaping (_ worker: Int, _ batch: [Item]) -> Answer) {
        queue = items
        self.batchSize = max(1, batchSize)
        self.items = Array(repeating: 0, count: workers)
        busy = Array(repeating: 0, count: workers)
        self.work = work
    }

    /// Runs every batch, calling `commit` on this thread for each answer; the items `commit`
    /// returns go to the back of the queue (retries). After `commit` throws, no new batch starts.
    /// `progress` gets each worker's items and busy seconds after every commit.
    func run(commit: (_ worker: Int, _ batch: [Item], _ answer: Answer) throws -> [Item],
             progress: ((_ items: [Int], _ busy: [Double]) -> Void)? = nil) throws -> (items: [Int], busy: [Double]) {
        let finished = DispatchGroup()
        for worker in items.indices {
            finished.enter()
            Thread.detachNewThread { [self] in
                defer { finished.leave() }
                serve(worker)
            }
        }
        do {
            while let (worker, batch, answer) = nextAnswer() {
                let retries = try commit(worker, batch, answer)
                condition.lock()
                queue.append(contentsOf: retries)
                inFlight -= 1
                let snapshot = (items, busy)
                condition.broadcast()
                condition.unlock()
                progress?(snapshot.0, snapshot.1)
            }
        } catch {
            // A worker still inside a batch finishes it; its answer is dropped.
            condition.lock()
            stopped = true
            condition.broadcast()
            condition.unlock()
            throw error
        }
        finished.wait()
        condition.lock()
        defer { condition.unlock() }
        return (items, busy)
    }

    private func nextAnswer() -> (Int, [Item], Answer)? {
        condition.lock()
        defer { condition.unlock() }
        while answers.isEmpty && !(next >= queue.count && inFlight == 0) { condition.wait() }
        guard !answers.isEmpty else { return nil }
        let first = answers.removeFirst()
        return (first.worker, first.batch, first.answer)
    }

    private func serve(_ worker: Int) {
        while true {
            condition.lock()
            // Nothing queued but batches in flight: their retries may still come.
            while !stopped && next >= queue.count && inFlight > 0 { condition.wait() }
            if stopped || next >= queue.count {
                condition.unlock()
                return
            }
            let batch = Array(queue[next..<min(next + batchSize, queue.count)])
            next += batch.count
            inFlight += 1
            condition.unlock()

            let start = ContinuousClock.now
            let answer = work(worker, batch)
            let seconds = (ContinuousClock.now - start) / .seconds(1)

            condition.lock()
            items[worker] += batch.count
            busy[worker] += seconds
            if !stopped { answers.append((worker, batch, answer)) }
            condition.broadcast()
            condition.unlock()
        }
    }
}

/// The backend lives on one pool thread at a time; see ``BatchPool``.
struct Handed<Value>: @unchecked Sendable {
    // @unchecked Sendable: a backend is called by exactly one pool thread (its worker's), and the
    // caller touches it again only after the pool has joined its threads.
    let value: Value
}

/// Backends that can say how often their worker process was restarted.
protocol RestartCounting {
    var restarts: Int { get }
}

func restartCount(_ backend: Any) -> Int {
    (backend as? any RestartCounting)?.restarts ?? 0
}
