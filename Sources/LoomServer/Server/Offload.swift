import Dispatch

/// Runs blocking work (catalog reads, `pread`, decoding, ingest) on a Dispatch thread and
/// awaits it, so the cooperative pool that serves every connection never blocks on disk.
enum Offload {
    private static let queue = DispatchQueue(label: "loom-serve-blocking", attributes: .concurrent)

    static func run<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            queue.async { continuation.resume(with: Result { try body() }) }
        }
    }
}
