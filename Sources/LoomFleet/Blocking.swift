import Dispatch
import Foundation
import Synchronization

/// Runs async object-store work for LoomStore's synchronous callers (the loader's decode
/// threads, a writer's commit) and waits for it.
///
/// The work runs with a task-executor preference for threads of its own, so a caller that blocks
/// a Swift concurrency thread (an async command, a service handler) never waits on work that
/// needs that same thread pool to make progress.
enum Blocking {
    static func run<T: Sendable>(_ operation: @escaping @Sendable () async throws -> T) throws -> T {
        let outcome = Mutex<Result<T, any Error>?>(nil)
        let done = DispatchSemaphore(value: 0)
        Task.detached(executorPreference: FleetExecutor.shared) {
            let result: Result<T, any Error>
            do { result = .success(try await operation()) } catch { result = .failure(error) }
            outcome.withLock { $0 = result }
            done.signal()
        }
        done.wait()
        return try outcome.withLock { $0! }.get()
    }
}

/// A task executor over a concurrent dispatch queue (dispatch's own threads, not the Swift
/// concurrency pool's).
final class FleetExecutor: TaskExecutor {
    static let shared = FleetExecutor()
    private let queue = DispatchQueue(label: "loom.fleet", attributes: .concurrent)

    func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        let executor = asUnownedTaskExecutor()
        queue.async { job.runSynchronously(on: executor) }
    }
}
