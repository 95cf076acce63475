import Foundation
import Glibc
import LoomLoader
import LoomStore
import Synchronization

/// One rank's loader filling one shared-memory ring (`/dev/shm/NAME`) on a thread of its own:
/// what `loom stream --shm NAME` does, inside the training run. The torch worker reads the ring in
/// place (`loom_client.ShmRing`) and unlinks it when it has read it; a feeder that stops early
/// (cancelled, or its loader failed) unlinks it itself.
final class RingFeeder: Sendable {
    struct Plan: Sendable {
        var table: SampleTable
        var spec: TransformSpec
        var sampler: SamplerConfig
        var epoch: Int
        var batch: Int
        var workers: Int
        var dropLast: Bool
        var slots = 4
    }

    let name: String
    private let finished = DispatchSemaphore(value: 0)
    private let failure = Mutex<String?>(nil)
    private let cancelled = Atomic<Bool>(false)

    /// Starts feeding; the ring appears once the loader is set up (the reader waits for it).
    init(name: String, store: Store, plan: Plan) {
        self.name = name
        Thread.detachNewThread { [self] in
            defer { finished.signal() }
            if let message = feed(store: store, plan: plan) {
                failure.withLock { $0 = message }
            }
        }
    }

    /// Makes a waiting feeder give up (the run failed elsewhere).
    func cancel() { cancelled.store(true, ordering: .relaxed) }

    /// After a failure elsewhere: stops the feeder, waits for it and removes its ring, read or not
    /// (a reader that mapped it keeps its mapping).
    func discard() {
        cancel()
        try? wait()
        shm_unlink("/" + name)
    }

    /// Waits for the feeder's end; throws what failed in it.
    func wait() throws {
        finished.wait()
        finished.signal()  // a second wait returns at once
        if let message = failure.withLock({ $0 }) { throw TrainError(.internal, message) }
    }

    /// The loader's batches into the ring; nil when every batch was published (or the run was cancelled).
    private func feed(store: Store, plan: Plan) -> String? {
        let loader: Loader
        do {
            loader = try Loader(store: store, table: plan.table, spec: plan.spec, config: plan.sampler, epoch: plan.epoch,
                                options: .init(batchSize: plan.batch, workers: plan.workers, dropLast: plan.dropLast))
        } catch {
            return "the loader for \(name): \(error)"
        }
        var ring: SharedMemoryRing
        do {
            ring = try SharedMemoryRing(
                name: name, layout: SharedMemoryRingLayout(slotCount: plan.slots, batch: plan.batch, height: plan.spec.size,
                                                           width: plan.spec.size),
                epoch: plan.epoch, batchCount: loader.batchCount,
                sampleCount: min(loader.endPosition - loader.startPosition, loader.batchCount * plan.batch),
                startCursor: loader.resumeToken.description, isCancelled: { [self] in cancelled.load(ordering: .relaxed) })
        } catch {
            loader.cancel()
            return "\(error)"
        }
        do {
            while let view = try loader.next() {
                let published = try ring.publish(
                    count: view.count, pixels: view.pixels, labels: view.labels, positionAfter: view.endPosition,
                    cursor: loader.resumeToken.description, lastOfEpoch: view.endPosition == loader.endPosition)
                if !published {
                    // Cancelled, or the worker went away: the run reports why; nobody reads the rest.
                    loader.cancel()
                    ring.unlink()
                    return nil
                }
            }
        } catch {
            loader.cancel()
            ring.fail("\(error)")
            ring.unlink()
            return "\(error)"
        }
        ring.finish()
        return nil
    }
}
