import Foundation

/// Runs `work(i)` for `0..<count` on several threads and hands the results back in index order.
///
/// Workers run ahead of the consumer by at most `window` items, which bounds memory (each result
/// holds a file's bytes) and gives backpressure when the consumer (the store writer) is slower.
/// Each worker thread builds its own state through `makeWorker` (a libjpeg-turbo handle, a
/// scratch buffer), so the hot path never shares a codec or takes a lock per item.
public final class OrderedParallelMap<Output: Sendable>: @unchecked Sendable {
    // @unchecked: every mutable field below is read and written only while holding `condition`.
    private let condition = NSCondition()
    private var results: [Int: Output] = [:]
    private var nextToClaim = 0
    private var nextToDeliver = 0
    private var running: Int
    private let count: Int
    private let window: Int

    public init(count: Int, workers: Int, window: Int, makeWorker: @escaping @Sendable () -> (Int) -> Output) {
        self.count = count
        self.window = max(window, workers)
        let threads = max(1, min(workers, count))
        running = threads
        for index in 0..<threads {
            let thread = Thread { [self] in
                let work = makeWorker()
                while let item = claim() { deliver(item, work(item)) }
                condition.lock()
                running -= 1
                condition.broadcast()
                condition.unlock()
            }
            thread.name = "loom-worker-\(index)"
            thread.stackSize = 4 << 20
            thread.start()
        }
    }

    /// The next result in index order; nil after the last one (or after ``cancel()``).
    public func next() -> Output? {
        condition.lock()
        defer { condition.unlock() }
        while nextToDeliver < count {
            if let output = results.removeValue(forKey: nextToDeliver) {
                nextToDeliver += 1
                condition.broadcast()
                return output
            }
            if nextToClaim >= count && running == 0 && results[nextToDeliver] == nil { return nil }
            condition.wait()
        }
        return nil
    }

    /// Stops handing out new items and waits for the workers to finish the ones they hold.
    public func cancel() {
        condition.lock()
        nextToClaim = count
        nextToDeliver = count
        results.removeAll()
        condition.broadcast()
        while running > 0 { condition.wait() }
        condition.unlock()
    }

    private func claim() -> Int? {
        condition.lock()
        defer { condition.unlock() }
        while nextToClaim < count && nextToClaim - nextToDeliver >= window { condition.wait() }
        guard nextToClaim < count else { return nil }
        nextToClaim += 1
        return nextToClaim - 1
    }

    private func deliver(_ index: Int, _ output: Output) {
        condition.lock()
        if index >= nextToDeliver { results[index] = output }
        condition.broadcast()
        condition.unlock()
    }
}
