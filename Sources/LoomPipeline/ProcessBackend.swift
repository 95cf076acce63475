/// `process:CMD` backends: a worker process speaking JSON lines on stdin/stdout.
enum ProcessBackend {
    static func captioner(command: String) throws -> any Captioner {
        throw Backends.unknown("process:" + command, role: "captioner", available: Backends.captionerKinds)
    }

    static func generator(command: String) throws -> any Generator {
        throw Backends.unknown("process:" + command, role: "generator", available: Backends.generatorKinds)
    }
}
