import Dispatch
import Foundation

/// Splits `0..<count` over `workers` threads, each with its own state, and returns the wall time.
/// Yardsticks use a static split: the files are alike, and it adds no coordination cost.
func timedParallel<State>(count: Int, workers: Int, makeState: @Sendable () -> State, _ body: @Sendable (inout State, Int) -> Void) -> Double {
    let start = ContinuousClock.now
    DispatchQueue.concurrentPerform(iterations: workers) { worker in
        var state = makeState()
        var index = worker
        while index < count {
            body(&state, index)
            index += workers
        }
    }
    let elapsed = ContinuousClock.now - start
    return elapsed / .seconds(1)
}
