import LoomObjectStore
import LoomStore

/// Object-store failures carry the same codes as the catalog's (same raw values), so the CLI's
/// exit status and the service's HTTP status come from the code, never the message.
extension ObjectStoreError: CodedError {
    public var errorCode: LoomErrorCode { LoomErrorCode(rawValue: code.rawValue) ?? .internal }
}
