import Foundation

/// A failed object-store request, naming everything a user needs to find the fault: the
/// endpoint, the bucket and key, the HTTP status and S3's error code, and how many attempts
/// were made.
///
/// ``Code`` is the same small set as LoomStore's `LoomErrorCode` (same raw values), so LoomStore
/// wraps this error as a `CodedError` with a one-line mapping and the service and CLI never read
/// the message to decide a status. LoomObjectStore does not depend on LoomStore: LoomStore is the
/// one that will depend on it.
public struct ObjectStoreError: Error, CustomStringConvertible, Sendable {
    public enum Code: String, Sendable, Hashable, CaseIterable {
        /// The object or bucket does not exist (HTTP 404).
        case notFound = "not-found"
        /// The request or the configuration is wrong: a malformed `s3://` URL, a missing
        /// credential variable, an unsatisfiable range, a 400 from the server.
        case invalidInput = "invalid-input"
        /// The write clashes with what is stored: a conditional put found the key taken (412), 409.
        case conflict
        /// The bytes that came back are not what was asked for (a short body, a wrong length).
        case corrupt
        /// The endpoint did not answer usefully: refused or reset connections, timeouts, 5xx
        /// after every retry, or credentials it rejects (401/403, a deployment fault).
        case unavailable
        /// A response Loom cannot read.
        case `internal`
    }

    public var code: Code
    /// What was attempted, e.g. `PUT`, `GET`, `ListObjectsV2`, `CompleteMultipartUpload`.
    public var operation: String
    /// The endpoint's base URL, e.g. `http://127.0.0.1:8333`.
    public var endpoint: String
    public var bucket: String?
    public var key: String?
    /// The HTTP status of the last response, when one came.
    public var status: Int?
    /// S3's `<Code>` from the error body (e.g. `NoSuchKey`, `SlowDown`, `PreconditionFailed`).
    public var s3Code: String?
    /// The reason in words: S3's `<Message>`, or the transport error.
    public var reason: String
    /// Requests sent before giving up (1 when the failure is not worth retrying).
    public var attempts: Int
    /// The variable, flag or URL at fault, for configuration errors (no request was sent).
    public var parameter: String?

    public init(code: Code, operation: String, endpoint: String, bucket: String? = nil, key: String? = nil,
                status: Int? = nil, s3Code: String? = nil, reason: String, attempts: Int = 1) {
        self.code = code
        self.operation = operation
        self.endpoint = endpoint
        self.bucket = bucket
        self.key = key
        self.status = status
        self.s3Code = s3Code
        self.reason = reason
        self.attempts = attempts
    }

    /// `s3://bucket/key`, `s3://bucket`, or the endpoint alone.
    public var target: String {
        guard let bucket else { return endpoint }
        return key.map { "s3://\(bucket)/\($0)" } ?? "s3://\(bucket)"
    }

    public var description: String {
        if let parameter { return "\(parameter): \(reason)" }
        var text = "object store: \(operation) \(target) at \(endpoint) failed: "
        if let status { text += "HTTP \(status)" + (s3Code.map { " \($0)" } ?? "") + ": " }
        text += reason
        if attempts > 1 { text += " (after \(attempts) attempts)" }
        return text
    }

    /// A local file the client reads or writes failed (`path` names it).
    static func local(_ path: String, _ operation: String, errno code: Int32) -> ObjectStoreError {
        var error = ObjectStoreError(code: .internal, operation: operation, endpoint: "",
                                     reason: "cannot \(operation): \(String(cString: strerror(code)))", attempts: 0)
        error.parameter = path
        return error
    }

    /// A configuration error: a bad variable, flag or URL, named by `parameter`.
    static func configuration(_ parameter: String, _ reason: String) -> ObjectStoreError {
        var error = ObjectStoreError(code: .invalidInput, operation: "configure", endpoint: "", reason: reason, attempts: 0)
        error.parameter = parameter
        return error
    }
}
