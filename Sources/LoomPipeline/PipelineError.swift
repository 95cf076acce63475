import LoomStore

/// A failure of a pipeline stage: its kind (``LoomErrorCode``), which the service and the CLI
/// decide by, and what went wrong in words.
public struct PipelineError: CodedError, Sendable {
    public var errorCode: LoomErrorCode
    public var message: String

    public init(_ code: LoomErrorCode, _ message: String) {
        errorCode = code
        self.message = message
    }

    /// A request the caller can fix (a bad option or argument): `invalid-input`.
    public init(_ message: String) { self.init(.invalidInput, message) }

    /// Wraps `error` with context, keeping its code when it has one (else `fallback`).
    init(wrapping error: any Error, or fallback: LoomErrorCode, _ message: String) {
        self.init((error as? any CodedError)?.errorCode ?? fallback, message)
    }

    public var description: String { message }
}
