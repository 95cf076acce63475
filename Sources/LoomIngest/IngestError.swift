import Glibc
import LoomStore

/// A failure that stops an ingest as a whole (a bad root, a bad class-names file). Problems
/// with single files never throw: they become ``Rejection``s and the rest still goes in.
///
/// Each throw site says which ``LoomErrorCode`` it is, so the service answers by code (a missing
/// labels file is a 404, a malformed one a 400) and never by reading the message.
public struct IngestError: CodedError, Sendable {
    public var errorCode: LoomErrorCode
    public var message: String
    public var path: String?

    public init(_ code: LoomErrorCode, _ message: String, path: String? = nil) {
        errorCode = code
        self.message = message
        self.path = path
    }

    public var description: String { path.map { "\($0): \(message)" } ?? message }
}

extension IngestError {
    /// A named file (`--classes`, `--class-names`, ...) that cannot be read: `not-found` when
    /// there is nothing at the path, otherwise the request's fault (a folder, no permission).
    static func unreadableCode(_ path: String) -> LoomErrorCode {
        var info = stat()
        return stat(path, &info) != 0 && (errno == ENOENT || errno == ENOTDIR) ? .notFound : .invalidInput
    }
}
