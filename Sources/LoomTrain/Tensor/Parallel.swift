import Dispatch
import Foundation

/// Data-parallel loops for the non-BLAS kernels (im2col, col2im, BatchNorm, ReLU, pooling).
///
/// Every caller splits its work so that iterations write disjoint memory and each reduction runs
/// inside one iteration in a fixed order; the results therefore do not depend on how iterations
/// are scheduled, or on the number of threads.
enum Parallel {
    /// Below this many elements of work a loop runs inline: dispatch costs more than it saves.
    static let minimumWork = 1 << 15

    /// Calls `body(i)` for every `i` in `0..<iterations`, on all cores when `work` (elements
    /// touched, roughly) is large enough.
    static func forEach(_ iterations: Int, work: Int, _ body: (Int) -> Void) {
        guard iterations > 1, work >= minimumWork else {
            for i in 0..<iterations { body(i) }
            return
        }
        withoutActuallyEscaping(body) { body in
            let shared = UncheckedSendable(body)
            DispatchQueue.concurrentPerform(iterations: iterations) { i in shared.value(i) }
        }
    }

    /// `forEach` over `0..<count` cut into contiguous ranges (about two per core), for flat
    /// element-wise loops.
    static func forEachRange(_ count: Int, _ body: (Range<Int>) -> Void) {
        let pieces = count >= minimumWork ? min(count / (minimumWork / 2), 2 * Parallel.cores) : 1
        guard pieces > 1 else { return body(0..<count) }
        let step = (count + pieces - 1) / pieces
        forEach(pieces, work: count) { i in
            let start = i * step
            if start < count { body(start..<min(start + step, count)) }
        }
    }

    static let cores = max(1, ProcessInfo.processInfo.activeProcessorCount)
}

/// Hands a closure to `concurrentPerform`, which demands `@Sendable`.
///
/// @unchecked: the closure captures raw pointers into buffers the caller owns; `concurrentPerform`
/// returns only after every iteration has finished (so nothing outlives the call), and callers
/// make iterations write disjoint memory (see ``Parallel``).
private struct UncheckedSendable<Value>: @unchecked Sendable {
    let value: Value
    init(_ value: Value) { self.value = value }
}
