/// The kind of a failure, from one small set that every module's errors map onto: the service
/// turns it into an HTTP status and the CLI into its `--json` error code, so neither ever reads
/// the message to decide (docs/catalog-boundary.md has the table).
///
/// A PostgreSQL catalog maps its SQLSTATEs onto the same set, so callers see the same codes
/// whichever backend answers.
public enum LoomErrorCode: String, Sendable, Hashable, CaseIterable {
    /// What was asked for does not exist (a dataset, split, class, run, blob).
    case notFound = "not-found"
    /// The request itself is wrong (a malformed digest, an ambiguous prefix, a bad argument).
    case invalidInput = "invalid-input"
    /// The request clashes with the current state (the writer lock is held, a run already finished).
    case conflict
    /// Stored data fails its checks.
    case corrupt
    /// The store cannot serve right now (no store, a schema from a newer loom, every slot busy).
    case unavailable
    /// Anything else: a bug or an I/O failure the caller cannot fix.
    case `internal`
}

/// An error that says which ``LoomErrorCode`` it is, beside its message in words.
public protocol CodedError: Error, CustomStringConvertible {
    var errorCode: LoomErrorCode { get }
}

extension StoreError: CodedError {
    /// The store's finer codes (still printed by `--json` as they were) grouped into the common set.
    public var errorCode: LoomErrorCode { code.errorCode }
}

extension StoreError.Code {
    public var errorCode: LoomErrorCode {
        switch self {
        case .notFound: .notFound
        case .ambiguous, .invalidArgument: .invalidInput
        case .locked, .conflict: .conflict
        case .corrupt: .corrupt
        case .noStore, .schema, .busy, .cancelled, .unavailable: .unavailable
        case .timedOut: .unavailable
        default: .internal
        }
    }
}
