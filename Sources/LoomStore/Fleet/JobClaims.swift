import Foundation

/// The claiming the shared stages do (`loom generate`, and `loom caption` and `loom ingest` on a
/// fleet store): rounds of a run's jobs under a lease, and closing the run once nothing is pending.
public enum JobClaims {
    /// The next round of `runID`'s pending jobs for this writer, at most `limit`; empty when the
    /// run has none left. On a fleet store a round that finds nothing to claim while jobs are
    /// still pending waits for their leases: a live worker finishes them, a dead one's run out
    /// and are claimed here.
    public static func nextRound(of runID: Int64, writer: StoreWriter, limit: Int, lease: Duration) throws -> [JobRecord] {
        while true {
            let claimed = try writer.transaction { try $0.jobs.claim(runID, owner: writer.owner, limit: limit, lease: lease) }
            if !claimed.isEmpty { return claimed }
            let pending = try writer.store.read { try $0.jobs.counts(of: runID)[.pending] ?? 0 }
            if pending == 0 || !writer.isShared { return [] }
            Thread.sleep(forTimeInterval: min(1, max(0.05, Double(lease.components.seconds) / 4)))
        }
    }

    /// Closes a running run with `summary`, as failed when `failed`. On a fleet store every
    /// worker of the run gets here once it has no pending job; the first closes it, the others
    /// find it closed and leave it so.
    public static func close(_ runID: Int64, summary: String, failed: Bool, writer: StoreWriter) throws {
        do {
            try writer.transaction { tx in
                guard try tx.snapshot.runs.run(id: runID)?.status == .running else { return }
                if failed {
                    try tx.runs.finishFailed(id: runID, summary: summary)
                } else {
                    try tx.runs.finish(id: runID, summary: summary)
                }
            }
        } catch let error as StoreError where error.code == .conflict && writer.isShared {
            // Another worker closed the run between the check and the update.
        }
    }
}
