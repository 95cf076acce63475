import LoomStore

/// The one loop that turns a loader into a stream of batches, shared by `loom stream` (JSON
/// lines, a shared-memory ring) and `GET /v1/batches` (binary frames), so both count, stop and
/// fail alike.
///
/// It pulls batches in order and hands each, with the resume token that follows it, to the
/// consumer's `deliver`; it stops at the end of the epoch, after `limit` batches, when
/// `deliver` declines a batch (its reader is gone), or when the loader fails.
public enum BatchProducer {
    /// How a stream ended and what it delivered.
    public struct Report {
        public enum End {
            /// The epoch (or the batch limit) was reached.
            case finished
            /// `deliver` declined a batch: its reader stopped before the end.
            case consumerStopped
            /// The loader failed; nothing after the last delivered batch was sent.
            case failed(any Error)
        }

        public var end: End
        /// Batches and samples `deliver` took.
        public var batches: Int
        public var samples: Int
        /// The resume token after the last batch `deliver` took (on failure: where the failed
        /// batch starts, so a retry from it loses and repeats nothing).
        public var cursor: ResumeToken
        /// Samples the loader replaced (with `skipBad`), as of the end.
        public var skipped: [Digest]
    }

    /// Runs `loader` to the end (or `limit` batches) on the calling thread.
    /// - Parameter deliver: takes a batch (valid only during the call) and the token after it;
    ///   returns false when its reader has gone, which stops the stream. What it throws ends
    ///   the stream and comes out of `run` as it is.
    public static func run(
        _ loader: Loader, limit: Int = .max, deliver: (Loader.BatchView, ResumeToken) throws -> Bool
    ) rethrows -> Report {
        var first: Loader? = loader
        return try run(epochs: 1, first: &first, next: { _ in preconditionFailure("one epoch") }, limit: limit) { _, view, after in
            try deliver(view, after)
        }
    }

    /// Runs `epochs` epochs one after another as one stream (or `limit` batches in all).
    ///
    /// `first` is the first epoch's loader (resumed or not), made before the stream starts; the
    /// run takes it out, so no other reference keeps its ring alive. `next(k)` makes the
    /// loader of the stream's k-th epoch (k >= 1), as soon as the epoch before has handed over
    /// its last batch and its loader is gone: its ring reuses that memory, and its workers
    /// decode while the consumer is still busy with that batch. A trainer running many epochs
    /// over one stream pays a request's or a process's start-up once, not once per epoch.
    /// - Parameter deliver: takes the batch's loader, the batch (valid only during the call)
    ///   and the token after it; as for ``run(_:limit:deliver:)``.
    /// - Returns: when a later epoch's loader cannot be made, `.failed` with the cursor at the
    ///   end of the epoch before (resuming from it starts the failed epoch afresh).
    public static func run(
        epochs: Int, first: inout Loader?, next: (_ epoch: Int) -> Result<Loader, any Error>, limit: Int = .max,
        deliver: (Loader, Loader.BatchView, ResumeToken) throws -> Bool
    ) rethrows -> Report {
        var loader = first
        first = nil
        guard loader != nil else { preconditionFailure("the first epoch's loader is made before the stream starts") }
        var report = Report(end: .finished, batches: 0, samples: 0, cursor: loader!.resumeToken, skipped: [])
        for epoch in 0..<max(1, epochs) {
            if epoch > 0 {
                report.skipped += loader!.skippedSamples
                loader = nil  // the old loader goes first, so the next one's ring reuses its memory
                switch next(epoch) {
                case .success(let made): loader = made
                case .failure(let error):
                    report.end = .failed(error)
                    return report
                }
            }
            let end = try produce(loader!, limit: limit, report: &report, deliver: deliver)
            if case .finished = end, report.batches < limit { continue }
            report.end = end
            break
        }
        report.skipped += loader!.skippedSamples
        return report
    }

    /// One epoch's batches into `report`; how the epoch ended.
    private static func produce(
        _ loader: Loader, limit: Int, report: inout Report, deliver: (Loader, Loader.BatchView, ResumeToken) throws -> Bool
    ) rethrows -> Report.End {
        while report.batches < limit {
            let view: Loader.BatchView
            do {
                guard let next = try loader.next() else { return .finished }
                view = next
            } catch {
                return .failed(error)
            }
            let after = loader.resumeToken
            guard try deliver(loader, view, after) else { return .consumerStopped }
            report.batches += 1
            report.samples += view.count
            report.cursor = after
        }
        return .finished
    }
}
