import Foundation
import LoomStore

extension Backends {
    /// One captioner per worker of `fanout`, started side by side (a model load each).
    public static func captioners(_ spec: String, python: String? = nil, fanout: Fanout) throws -> WorkerSet<any Captioner> {
        if fanout == .single { return WorkerSet(try captioner(spec, python: python)) }
        let backends: [any Captioner] = try startWorkers(
            spec, python: python, fanout: fanout, role: "captioner", available: captionerKinds,
            identity: { ($0.name, $0.version, $0.params) },
            http: { try HTTPBackend.captioner(url: $0) },
            process: { command, environment in
                try ProcessCaptioner(command: command, launch: try ProcessBackend.launch(command, python: python),
                                     environment: environment, backend: spec, timeouts: .fromEnvironment(batchDefault: 120))
            })
        return WorkerSet(backends: backends, devices: fanout.devices)
    }

    /// One generator per worker of `fanout`, started side by side (a model load each).
    public static func generators(_ spec: String, python: String? = nil, fanout: Fanout) throws -> WorkerSet<any Generator> {
        if fanout == .single { return WorkerSet(try generator(spec, python: python)) }
        let backends: [any Generator] = try startWorkers(
            spec, python: python, fanout: fanout, role: "generator", available: generatorKinds,
            identity: { ($0.name, $0.version, $0.params) },
            http: { try HTTPBackend.generator(url: $0) },
            process: { command, environment in
                try ProcessGenerator(command: command, launch: try ProcessBackend.launch(command, python: python),
                                     environment: environment, backend: spec, timeouts: .fromEnvironment(batchDefault: 600))
            })
        guard Set(backends.map(\.constraints.sizeMultiple)).count == 1 else {
            throw PipelineError(.conflict, "the \(backends.count) workers of \(spec) declare different constraints in their handshakes; refusing to mix them")
        }
        return WorkerSet(backends: backends, devices: fanout.devices)
    }

    /// The fan-out both roles share: checks the spec and options, starts one `http:` client or
    /// `process:` worker per device (placed on it), and makes sure they all report one identity.
    private static func startWorkers<Backend>(
        _ spec: String, python: String?, fanout: Fanout, role: String, available: [String],
        identity: (Backend) -> (String, String, [String: String]),
        http: @escaping (_ url: String) throws -> Backend,
        process: @escaping (_ command: String, _ environment: [String: String]) throws -> Backend
    ) throws -> [Backend] {
        try checkPython(python, spec: spec)
        try checkFanout(spec, fanout: fanout)
        guard spec.hasPrefix("process:") || spec.hasPrefix("http:") else {
            throw unknown(spec, role: role, available: available)
        }
        let backends = try startAll(fanout) { device -> Backend in
            if spec.hasPrefix("http:") { return try http(String(spec.dropFirst("http:".count))) }
            let (placed, environment) = Fanout.placement(of: device, in: String(spec.dropFirst("process:".count)))
            return try process(placed, environment)
        }
        try sameIdentity(backends.map(identity), devices: fanout.devices, role: role)
        return backends
    }

    /// builtin: backends run inside loom and http: ones on a server that picks its own GPU, so
    /// only process: workers take devices; builtin: ones take no workers at all. Commands call
    /// this before answering from the catalog too, so a bad option fails whether or not work is left.
    public static func checkFanout(_ spec: String, fanout: Fanout) throws {
        guard fanout != .single else { return }
        if spec.hasPrefix("builtin:") {
            throw PipelineError(.invalidInput, "\(spec) runs inside loom, one batch at a time: --workers and --devices apply to process: and http: backends only")
        }
        if spec.hasPrefix("http:"), fanout.devices.contains(where: { $0 != nil }) {
            throw PipelineError(.invalidInput, "--devices applies to process: backends only; for \(spec) use --workers N (N concurrent clients), the server chooses its own devices")
        }
    }

    /// Starts every worker at once (model loads take minutes each); if one fails, the others
    /// are shut down with it and the error names its device.
    private static func startAll<Backend>(_ fanout: Fanout, make: @escaping (String?) throws -> Backend) throws -> [Backend] {
        let results = Locked(Array(repeating: Result<Handed<Backend>, any Error>?.none, count: fanout.count))
        let handedMake = Handed(value: make)
        DispatchQueue.concurrentPerform(iterations: fanout.count) { index in
            let result = Result { Handed(value: try handedMake.value(fanout.devices[index])) }
            results.update { $0[index] = result }
        }
        var backends: [Backend] = []
        for (index, result) in results.value.enumerated() {
            switch result {
            case .success(let handed): backends.append(handed.value)
            case .failure(let error):
                let device = fanout.devices[index].map { " on \($0)" } ?? ""
                throw PipelineError(wrapping: error, or: .unavailable, "worker \(index + 1) of \(fanout.count)\(device): \(error)")
            case nil: throw PipelineError(.unavailable, "worker \(index + 1) of \(fanout.count) did not start")
            }
        }
        return backends
    }

    private static func sameIdentity(_ identities: [(String, String, [String: String])], devices: [String?], role: String) throws {
        guard let first = identities.first else { return }
        for (index, identity) in identities.enumerated().dropFirst()
        where identity.0 != first.0 || identity.1 != first.1 || identity.2 != first.2 {
            func named(_ i: Int) -> String { "worker \(i + 1)" + (devices[i].map { " (\($0))" } ?? "") }
            throw PipelineError(.conflict, "the \(role) workers disagree on who they are: \(named(0)) is \(first.0) \(first.1) \(first.2), \(named(index)) is \(identity.0) \(identity.1) \(identity.2); every worker must report the same name, model_version and params, so their outputs can share one identity")
        }
    }
}

/// A value behind a lock, for the few results threads hand back.
final class Locked<Value>: @unchecked Sendable {
    // @unchecked Sendable: `value` is only touched with `lock` held.
    private let lock = NSLock()
    private var stored: Value

    init(_ value: Value) { stored = value }

    var value: Value {
        lock.lock()
        defer { lock.unlock() }
        return stored
    }

    func update(_ change: (inout Value) -> Void) {
        lock.lock()
        defer { lock.unlock() }
        change(&stored)
    }
}
