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
        var report = Report(end: .finished, batches: 0, samples: 0, cursor: loader.resumeToken, skipped: [])
        produce: while report.batches < limit {
            let view: Loader.BatchView
            do {
                guard let next = try loader.next() else { break produce }
                view = next
            } catch {
                report.end = .failed(error)
                break produce
            }
            let after = loader.resumeToken
            guard try deliver(view, after) else {
                report.end = .consumerStopped
                break produce
            }
            report.batches += 1
            report.samples += view.count
            report.cursor = after
        }
        report.skipped = loader.skippedSamples
        return report
    }
}
