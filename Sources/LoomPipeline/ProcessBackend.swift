/// `process:CMD` backends: a worker process speaking JSON lines on stdin/stdout.
enum ProcessBackend {
    static func captioner(command: String) throws -> any Captioner {
        throw PipelineError("process: backends are not implemented yet (\(command))")
    }

    static func generator(command: String) throws -> any Generator {
        throw PipelineError("process: backends are not implemented yet (\(command))")
    }
}
