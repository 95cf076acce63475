import Foundation

/// Keeps a worker's job leases alive while it works: every third of the lease, one UPDATE on a
/// catalog connection of its own (the writer's own thread is busy running the model). A worker
/// that dies stops renewing, and its jobs are claimable again once the lease runs out.
public final class JobLeaseRenewer: @unchecked Sendable {
    // @unchecked: `thread` is set once in init; the rest is immutable or a semaphore.
    private let wake = DispatchSemaphore(value: 0)
    private let done = DispatchSemaphore(value: 0)
    private var thread: Thread?
    private let catalog: PostgresCatalog
    private let runID: Int64
    private let owner: String

    init(catalog: PostgresCatalog, runID: Int64, owner: String, lease: Duration) {
        self.catalog = catalog
        self.runID = runID
        self.owner = owner
        let interval = max(0.05, lease.totalSeconds / 3)
        let wake = self.wake, done = self.done
        let thread = Thread {
            while wake.wait(timeout: .now() + interval) == .timedOut {
                // A failed renewal is tried again next time; if the catalog stays away the lease
                // runs out and another worker takes the jobs, which is what should happen.
                _ = try? catalog.makeWriter().transaction { try $0.jobs.renew(runID, owner: owner, lease: lease) }
            }
            done.signal()
        }
        thread.name = "loom-lease-renewer"
        self.thread = thread
        thread.start()
    }

    /// Stops renewing, waits for the renewer to end, and gives back the claims on jobs still
    /// pending: a worker that stops early (an error, an outage) leaves its jobs to the others at
    /// once, not after its lease. After a clean finish nothing is pending, and nothing changes.
    /// Called once; further calls do nothing.
    public func stop() {
        guard thread != nil else { return }
        thread = nil
        wake.signal()
        done.wait()
        // Best effort: when the catalog is gone too, the lease runs out as it would for a kill.
        _ = try? catalog.makeWriter().transaction { try $0.jobs.release(runID, owner: owner) }
    }

    deinit { stop() }
}
