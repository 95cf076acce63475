import LoomStore

/// A failure of training or an experiment (a setting that cannot train, a corrupt checkpoint, a
/// torch worker that broke off) with its cause in words and the ``LoomErrorCode`` that says whose
/// fault it is, so the service and the CLI never read the message to decide.
public struct TrainError: CodedError, Sendable, Hashable {
    public var errorCode: LoomErrorCode
    public var message: String
    public init(_ errorCode: LoomErrorCode, _ message: String) {
        self.errorCode = errorCode
        self.message = message
    }

    /// An `invalid-input` error: the settings or the data asked for cannot train.
    public init(_ message: String) { self.init(.invalidInput, message) }
    public var description: String { message }
}
