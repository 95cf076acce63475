import LoomStore

/// Why a tar archive could not be read or written. `path` names the archive (a file, or what an
/// in-memory archive is, such as a checkpoint's digest); the message names the member, if any.
public struct TarError: CodedError, Sendable {
    public var errorCode: LoomErrorCode
    public var message: String
    public var path: String

    public init(_ code: LoomErrorCode, _ message: String, path: String) {
        errorCode = code
        self.message = message
        self.path = path
    }

    public var description: String { "\(path): \(message)" }
}
