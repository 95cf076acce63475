import Foundation
import Hummingbird

/// A small bounded queue of encoded frames between a stream's producer thread (which runs the
/// loader and encodes) and the connection's task (which writes).
///
/// The loader blocks on a condition variable, so it runs on its own thread, never on the
/// cooperative pool; this queue lets the async writer wait for it without blocking. When the
/// client reads slowly the queue fills and the producer stops calling the loader, whose own
/// ring then fills and stops its workers: backpressure all the way down, and memory stays at
/// a few batches whatever the epoch's size.
final class FrameQueue: @unchecked Sendable {
    // @unchecked: every mutable field is read and written under `condition`.
    struct Frame: Sendable {
        /// Written in turn: a batch frame's header, pixels and labels (``BatchFrame``), or an
        /// end or error frame's one buffer.
        var buffers: [ByteBuffer]
        var samples: Int
        /// The last frame of the stream (end or error).
        var terminal: Bool
    }

    private let condition = NSCondition()
    private var frames: [Frame] = []
    private var waiter: CheckedContinuation<Frame?, Never>?
    private var closed = false
    private let capacity: Int
    private let metrics: ServerMetrics

    init(capacity: Int, metrics: ServerMetrics) {
        self.capacity = max(1, capacity)
        self.metrics = metrics
    }

    /// Producer side: blocks while the queue is full. Returns false once the consumer is gone.
    func push(_ frame: Frame) -> Bool {
        condition.lock()
        while frames.count >= capacity && !closed { condition.wait() }
        if closed {
            condition.unlock()
            return false
        }
        if let waiter {
            self.waiter = nil
            condition.unlock()
            waiter.resume(returning: frame)
            return true
        }
        frames.append(frame)
        condition.unlock()
        metrics.queueDepthChanged(by: 1)
        return true
    }

    /// Consumer side: the next frame, or nil once the queue is closed and drained of nothing
    /// more to send.
    func pop() async -> Frame? {
        await withCheckedContinuation { continuation in
            condition.lock()
            if !frames.isEmpty {
                let frame = frames.removeFirst()
                condition.broadcast()
                condition.unlock()
                metrics.queueDepthChanged(by: -1)
                continuation.resume(returning: frame)
            } else if closed {
                condition.unlock()
                continuation.resume(returning: nil)
            } else {
                waiter = continuation
                condition.unlock()
            }
        }
    }

    /// Ends the stream from either side: the producer stops at its next push, a waiting
    /// consumer gets nil, and frames not yet sent are dropped.
    func close() {
        condition.lock()
        closed = true
        let dropped = frames.count
        frames.removeAll()
        let waiter = self.waiter
        self.waiter = nil
        condition.broadcast()
        condition.unlock()
        if dropped > 0 { metrics.queueDepthChanged(by: -dropped) }
        waiter?.resume(returning: nil)
    }
}
