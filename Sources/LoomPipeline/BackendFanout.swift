import Foundation

extension Backends {
    /// One captioner per worker of `fanout`, started side by side (a model load each).
    public static func captioners(_ spec: String, python: String? = nil, fanout: Fanout) throws -> WorkerSet<any Captioner> {
        if fanout == .single { return WorkerSet(try captioner(spec, python: python)) }
        try checkPython(python, spec: spec)
        try checkFanout(spec, fanout: fanout)
        guard spec.hasPrefix("process:") || spec.hasPrefix("http:") else {
            throw unknown(spec, role: "captioner", available: captionerKinds)
        }
        let backends = try startAll(fanout) { device -> any Captioner in
            if spec.hasPrefix("http:") { return try HTTPBackend.captioner(url: String(spec.dropFirst("http:".count))) }
            let command = String(spec.dropFirst("process:".count))
            let (placed, environment) = Fanout.placement(of: device, in: command)
            return try ProcessCaptioner(command: placed, launch: try ProcessBackend.launch(placed, python: python),
                                        environment: environment, backend: spec,
                                        timeouts: .fromEnvironment(batchDefault: 120))
        }
        try sameIdentity(backends.map { ($0.name, $0.version, $0.params) }, devices: fanout.devices, role: "captioner")
        return WorkerSet(backends: backends, devices: fanout.devices)
    }

    /// One generator per worker of `fanout`, started side by side (a model load each).
    public static func generators(_ spec: String, python: String? = nil, fanout: Fanout) throws -> WorkerSet<any Generator> {
        if fanout == .single { return WorkerSet(try generator(spec, python: python)) }
        try checkPython(python, spec: spec)
        try checkFanout(spec, fanout: fanout)
        guard spec.hasPrefix("process:") || spec.hasPrefix("http:") else {
            throw unknown(spec, role: "generator", available: generatorKinds)
        }
        let backends = try startAll(fanout) { device -> any Generator in
            if spec.hasPrefix("http:") { return try HTTPBackend.generator(url: String(spec.dropFirst("http:".count))) }
            let command = String(spec.dropFirst("process:".count))
            let (placed, environment) = Fanout.placement(of: device, in: command)
            return try ProcessGenerator(command: placed, launch: try ProcessBackend.launch(placed, python: python),
                                        environment: environment, backend: spec,
                                        timeouts: .fromEnvironment(batchDefault: 600))
        }
        try sameIdentity(backends.map { ($0.name, $0.version, $0.params) }, devices: fanout.devices, role: "generator")
        guard Set(backends.map(\.constraints.sizeMultiple)).count == 1 else {
            throw PipelineError("the \(backends.count) workers of \(spec) declare different constraints in their handshakes; refusing to mix them")
        }
        return WorkerSet(backends: backends, devices: fanout.devices)
    }

    /// builtin: backends run inside loom and http: ones on a server that picks its own GPU, so
    /// only process: workers take devices; builtin: ones take no workers at all. Commands call
    /// this before answering from the catalog too, so a bad option fails whether or not work is left.
    public static func checkFanout(_ spec: String, fanout: Fanout) throws {
        guard fanout != .single else { return }
        if spec.hasPrefix("builtin:") {
            throw PipelineError("\(spec) runs inside loom, one batch at a time: --workers and --devices apply to process: and http: backends only")
        }
        if spec.hasPrefix("http:"), fanout.devices.contains(where: { $0 != nil }) {
            throw PipelineError("--devices applies to process: backends only; for \(spec) use --workers N (N concurrent clients), the server chooses its own devices")
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
                throw PipelineError("worker \(index + 1) of \(fanout.count)\(device): \(error)")
            case nil: throw PipelineError("worker \(index + 1) of \(fanout.count) did not start")
            }
        }
        return backends
    }

    private static func sameIdentity(_ identities: [(String, String, [String: String])], devices: [String?], role: String) throws {
        guard let first = identities.first else { return }
        for (index, identity) in identities.enumerated().dropFirst()
        where identity.0 != first.0 || identity.1 != first.1 || identity.2 != first.2 {
            func named(_ i: Int) -> String { "worker \(i + 1)" + (devices[i].map { " (\($0))" } ?? "") }
            throw PipelineError("the \(role) workers disagree on who they are: \(named(0)) is \(first.0) \(first.1) \(first.2), \(named(index)) is \(identity.0) \(identity.1) \(identity.2); every worker must report the same name, model_version and params, so their outputs can share one identity")
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
