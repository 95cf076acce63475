import Foundation

/// Where objects live: `s3://bucket/prefix`. Keys are the prefix joined to a name.
public struct S3Location: Sendable, Hashable, CustomStringConvertible {
    public var bucket: String
    /// Empty, or ends in `/`.
    public var prefix: String

    public init(bucket: String, prefix: String = "") {
        self.bucket = bucket
        self.prefix = prefix.isEmpty || prefix.hasSuffix("/") ? prefix : prefix + "/"
    }

    /// Parses `s3://bucket` or `s3://bucket/some/prefix`; `parameter` (e.g. `--blobs`) names the
    /// source in the error.
    public init(parsing text: String, parameter: String = "--blobs") throws {
        guard text.hasPrefix("s3://") else {
            throw ObjectStoreError.configuration(parameter, "'\(text)' is not an s3:// URL (expected s3://bucket/prefix)")
        }
        let rest = text.dropFirst("s3://".count)
        let bucket = String(rest.prefix { $0 != "/" })
        let prefix = String(rest.dropFirst(bucket.count).drop { $0 == "/" })
        guard Self.isValidBucket(bucket) else {
            throw ObjectStoreError.configuration(
                parameter, "'\(text)': bucket '\(bucket)' is not a valid S3 bucket name (3-63 of a-z 0-9 . -, starting and ending with a letter or digit)")
        }
        guard !prefix.contains("//"), !prefix.split(separator: "/").contains(where: { $0 == "." || $0 == ".." }) else {
            throw ObjectStoreError.configuration(parameter, "'\(text)': the prefix may not hold empty, '.' or '..' segments")
        }
        self.init(bucket: bucket, prefix: prefix)
    }

    /// The key of `name` under the prefix.
    public func key(_ name: String) -> String { prefix + name }

    public var description: String { "s3://\(bucket)/\(prefix)" }

    static func isValidBucket(_ name: String) -> Bool {
        let bytes = Array(name.utf8)
        guard (3...63).contains(bytes.count) else { return false }
        func alnum(_ byte: UInt8) -> Bool {
            (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(byte) || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte)
        }
        return alnum(bytes.first!) && alnum(bytes.last!)
            && bytes.allSatisfy { alnum($0) || $0 == UInt8(ascii: "-") || $0 == UInt8(ascii: ".") }
    }
}

/// The base URL requests go to: `http://127.0.0.1:8333`, `https://s3.eu-west-1.amazonaws.com`.
public struct S3Endpoint: Sendable, Hashable, CustomStringConvertible {
    public var scheme: String
    public var host: String
    public var port: Int?
    /// Empty, or a path the endpoint is mounted under (no trailing `/`).
    public var basePath: String

    /// Parses an endpoint URL; `parameter` names its source in the error.
    public init(parsing text: String, parameter: String) throws {
        guard let url = URLComponents(string: text), let scheme = url.scheme?.lowercased(), scheme == "http" || scheme == "https",
              let host = url.host, !host.isEmpty else {
            throw ObjectStoreError.configuration(parameter, "'\(text)' is not an http:// or https:// URL")
        }
        guard url.query == nil, url.fragment == nil, url.user == nil else {
            throw ObjectStoreError.configuration(parameter, "'\(text)': an endpoint URL takes no query, fragment or user")
        }
        self.scheme = scheme
        self.host = host
        self.port = url.port
        var path = url.path  // decoded: the signer encodes it with the key
        while path.hasSuffix("/") { path.removeLast() }
        self.basePath = path
    }

    public init(scheme: String, host: String, port: Int? = nil) {
        self.scheme = scheme
        self.host = host
        self.port = port
        self.basePath = ""
    }

    /// `host` or `host:port` when the port is not the scheme's default: the `Host` header.
    public var authority: String {
        let bracketed = host.contains(":") ? "[\(host)]" : host
        guard let port, port != (scheme == "https" ? 443 : 80) else { return bracketed }
        return "\(bracketed):\(port)"
    }

    public var description: String { "\(scheme)://\(authority)\(basePath)" }
}

/// How the client retries: exponential backoff with full jitter, on 5xx, 429, timeouts and
/// connection errors; never on other 4xx.
public struct RetryPolicy: Sendable, Hashable {
    /// Requests in all, the first one included (1 disables retries).
    public var maxAttempts: Int
    public var initialBackoff: Duration
    public var maxBackoff: Duration

    public init(maxAttempts: Int = 6, initialBackoff: Duration = .milliseconds(200), maxBackoff: Duration = .seconds(8)) {
        self.maxAttempts = max(1, maxAttempts)
        self.initialBackoff = initialBackoff
        self.maxBackoff = maxBackoff
    }

    /// The pause before attempt `attempt + 1`: a random share of initial x 2^(attempt-1), capped.
    func backoff(after attempt: Int) -> Duration {
        let ceiling = min(maxBackoff, initialBackoff * (1 << min(attempt - 1, 30)))
        let nanoseconds = ceiling.nanoseconds
        return .nanoseconds(Int64.random(in: nanoseconds / 2...max(nanoseconds / 2, nanoseconds)))
    }
}

/// Everything an ``S3Client`` needs: endpoint, region, credentials, addressing, limits.
public struct S3Configuration: Sendable {
    public enum Addressing: String, Sendable, Hashable {
        /// `endpoint/bucket/key`: MinIO, SeaweedFS, R2 and other custom endpoints.
        case path
        /// `bucket.endpoint/key`: AWS itself.
        case virtualHost
    }

    public var endpoint: S3Endpoint
    public var region: String
    public var credentials: AWSCredentials
    public var addressing: Addressing
    public var retry: RetryPolicy
    /// The most one attempt of one request may take, body included.
    public var requestTimeout: Duration
    /// How long one attempt keeps dialing: async-http-client re-dials a refused or unreachable
    /// endpoint until this passes, so it is also how long one attempt at a dead endpoint takes.
    public var connectTimeout: Duration
    /// Bodies above this go up as multipart uploads.
    public var multipartThreshold: Int
    /// Bytes per part of a multipart upload (S3's floor is 5 MiB for every part but the last).
    public var partSize: Int
    /// Parts uploaded at once.
    public var partConcurrency: Int

    public static let minimumPartSize = 5 << 20

    public init(endpoint: S3Endpoint, region: String = "us-east-1", credentials: AWSCredentials,
                addressing: Addressing = .path, retry: RetryPolicy = RetryPolicy(),
                requestTimeout: Duration = .seconds(300), connectTimeout: Duration = .seconds(10), multipartThreshold: Int = 64 << 20,
                partSize: Int = 16 << 20, partConcurrency: Int = 4) {
        self.endpoint = endpoint
        self.region = region
        self.credentials = credentials
        self.addressing = addressing
        self.retry = retry
        self.requestTimeout = requestTimeout
        self.connectTimeout = connectTimeout
        self.multipartThreshold = multipartThreshold
        self.partSize = max(Self.minimumPartSize, partSize)
        self.partConcurrency = max(1, partConcurrency)
    }

    /// From the standard AWS variables: `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`,
    /// `AWS_SESSION_TOKEN`, `AWS_REGION` (else `AWS_DEFAULT_REGION`, else us-east-1),
    /// `AWS_MAX_ATTEMPTS` (attempts per request, default 6), and
    /// `AWS_ENDPOINT_URL_S3` (else `AWS_ENDPOINT_URL`) for MinIO, SeaweedFS, R2...; a custom
    /// endpoint is addressed path-style, AWS virtual-host style (path-style for dotted buckets,
    /// which the wildcard certificate does not cover). Credentials files and instance metadata are
    /// not read: the variables are the contract.
    public static func fromEnvironment(_ environment: [String: String] = ProcessInfo.processInfo.environment,
                                       bucket: String? = nil) throws -> S3Configuration {
        func value(_ name: String) -> String? {
            guard let value = environment[name]?.trimmingCharacters(in: .whitespaces), !value.isEmpty else { return nil }
            return value
        }
        guard let accessKey = value("AWS_ACCESS_KEY_ID"), let secret = value("AWS_SECRET_ACCESS_KEY") else {
            let missing = ["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"].filter { value($0) == nil }
            throw ObjectStoreError.configuration(
                missing.joined(separator: ", "), "not set: S3 object storage needs AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY")
        }
        let credentials = AWSCredentials(accessKeyID: accessKey, secretAccessKey: secret, sessionToken: value("AWS_SESSION_TOKEN"))
        let region = value("AWS_REGION") ?? value("AWS_DEFAULT_REGION") ?? "us-east-1"
        var retry = RetryPolicy()
        if let text = value("AWS_MAX_ATTEMPTS") {
            // The AWS SDKs' variable: attempts in all, the first included.
            guard let attempts = Int(text), (1...100).contains(attempts) else {
                throw ObjectStoreError.configuration("AWS_MAX_ATTEMPTS", "must be a whole number from 1 to 100, not \"\(text)\"")
            }
            retry.maxAttempts = attempts
        }
        if let custom = value("AWS_ENDPOINT_URL_S3").map({ ("AWS_ENDPOINT_URL_S3", $0) }) ?? value("AWS_ENDPOINT_URL").map({ ("AWS_ENDPOINT_URL", $0) }) {
            let endpoint = try S3Endpoint(parsing: custom.1, parameter: custom.0)
            return S3Configuration(endpoint: endpoint, region: region, credentials: credentials, addressing: .path, retry: retry)
        }
        let endpoint = S3Endpoint(scheme: "https", host: "s3.\(region).amazonaws.com")
        let dotted = bucket?.contains(".") ?? false
        return S3Configuration(endpoint: endpoint, region: region, credentials: credentials, addressing: dotted ? .path : .virtualHost,
                               retry: retry)
    }
}
