import Foundation

/// The keys a request is signed with: `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY` and, for
/// temporary credentials, `AWS_SESSION_TOKEN`.
public struct AWSCredentials: Sendable, Equatable {
    public var accessKeyID: String
    public var secretAccessKey: String
    public var sessionToken: String?

    public init(accessKeyID: String, secretAccessKey: String, sessionToken: String? = nil) {
        self.accessKeyID = accessKeyID
        self.secretAccessKey = secretAccessKey
        self.sessionToken = sessionToken
    }
}

/// One request as SigV4 sees it. `path` and the query items are decoded text: the signer
/// percent-encodes them itself, once, the way S3 wants (other AWS services encode twice and
/// normalize the path; Loom signs for S3 only).
public struct SigV4Request: Sendable {
    public struct Field: Sendable, Equatable {
        public var name: String
        public var value: String

        public init(_ name: String, _ value: String) {
            self.name = name
            self.value = value
        }
    }

    public var method: String
    public var path: String
    public var query: [Field]
    /// Every header to sign, `host` among them. Names in any case; a name given twice is
    /// signed as one header whose values are joined by commas, as HTTP merges them.
    public var headers: [Field]
    /// Lower-case hex SHA-256 of the body, or `UNSIGNED-PAYLOAD`.
    public var payloadHash: String

    public init(method: String, path: String, query: [Field] = [], headers: [Field], payloadHash: String) {
        self.method = method
        self.path = path
        self.query = query
        self.headers = headers
        self.payloadHash = payloadHash
    }
}

/// AWS Signature Version 4 ("AWS4-HMAC-SHA256"), header form.
///
/// Small on purpose (no SDK is in the package mirror): canonical request, string to sign,
/// derived key, signature. Tested against the AWS documentation's published vectors.
public struct SigV4Signer: Sendable {
    public var credentials: AWSCredentials
    public var region: String
    public var service: String

    public init(credentials: AWSCredentials, region: String, service: String = "s3") {
        self.credentials = credentials
        self.region = region
        self.service = service
    }

    /// The SHA-256 of an empty body, which every bodiless request signs.
    public static let emptyPayloadHash = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

    /// Lower-case hex SHA-256 of `body`, for ``SigV4Request/payloadHash`` and `x-amz-content-sha256`.
    public static func payloadHash<Bytes: ContiguousBytes>(_ body: Bytes) -> String {
        Hashing.hex(Hashing.sha256(body))
    }

    /// `20130524T000000Z`: the `x-amz-date` form of `date`, in UTC.
    public static func amzDate(_ date: Date) -> String {
        var seconds = time_t(date.timeIntervalSince1970.rounded(.down))
        var parts = tm()
        gmtime_r(&seconds, &parts)
        func two(_ value: Int32) -> String { value < 10 ? "0\(value)" : "\(value)" }
        return "\(parts.tm_year + 1900)\(two(parts.tm_mon + 1))\(two(parts.tm_mday))T"
            + "\(two(parts.tm_hour))\(two(parts.tm_min))\(two(parts.tm_sec))Z"
    }

    /// The canonical request: method, encoded path, sorted encoded query, canonical headers,
    /// signed header names, payload hash, one per line.
    public func canonicalRequest(_ request: SigV4Request) -> String {
        let headers = Self.canonicalHeaders(request.headers)
        return [
            request.method,
            Self.encodePath(request.path),
            Self.canonicalQuery(request.query),
            headers.map { "\($0.name):\($0.value)\n" }.joined(),
            headers.map(\.name).joined(separator: ";"),
            request.payloadHash,
        ].joined(separator: "\n")
    }

    /// `yyyymmdd/region/service/aws4_request`.
    public func scope(date: Date) -> String {
        "\(Self.amzDate(date).prefix(8))/\(region)/\(service)/aws4_request"
    }

    public func stringToSign(_ request: SigV4Request, date: Date) -> String {
        let hash = Hashing.hex(Hashing.sha256(canonicalRequest(request)))
        return "AWS4-HMAC-SHA256\n\(Self.amzDate(date))\n\(scope(date: date))\n\(hash)"
    }

    /// Lower-case hex HMAC of the string to sign under the key derived for the date, region and service.
    public func signature(_ request: SigV4Request, date: Date) -> String {
        var key = Hashing.hmacSHA256(key: Array("AWS4\(credentials.secretAccessKey)".utf8), message: String(Self.amzDate(date).prefix(8)))
        for part in [region, service, "aws4_request"] {
            key = Hashing.hmacSHA256(key: key, message: part)
        }
        return Hashing.hex(Hashing.hmacSHA256(key: key, message: stringToSign(request, date: date)))
    }

    /// The `Authorization` header's value.
    public func authorization(_ request: SigV4Request, date: Date) -> String {
        let signed = Self.canonicalHeaders(request.headers).map(\.name).joined(separator: ";")
        return "AWS4-HMAC-SHA256 Credential=\(credentials.accessKeyID)/\(scope(date: date)), "
            + "SignedHeaders=\(signed), Signature=\(signature(request, date: date))"
    }

    /// `request`'s headers plus `x-amz-date`, `x-amz-content-sha256`, `x-amz-security-token`
    /// (with a session token) and `Authorization`: what goes on the wire.
    public func sign(_ request: SigV4Request, date: Date) -> [SigV4Request.Field] {
        var request = request
        request.headers.append(.init("x-amz-date", Self.amzDate(date)))
        request.headers.append(.init("x-amz-content-sha256", request.payloadHash))
        if let token = credentials.sessionToken {
            request.headers.append(.init("x-amz-security-token", token))
        }
        return request.headers + [.init("Authorization", authorization(request, date: date))]
    }

    // MARK: Canonical forms

    static func canonicalHeaders(_ headers: [SigV4Request.Field]) -> [SigV4Request.Field] {
        var merged: [String: [String]] = [:]
        for header in headers {
            merged[header.name.lowercased(), default: []].append(trimAll(header.value))
        }
        return merged.keys.sorted().map { SigV4Request.Field($0, merged[$0]!.joined(separator: ",")) }
    }

    /// Leading and trailing spaces dropped, inner runs of spaces made one (SigV4's Trimall).
    static func trimAll(_ value: String) -> String {
        value.split(whereSeparator: { $0 == " " || $0 == "\t" }).joined(separator: " ")
    }

    static func canonicalQuery(_ query: [SigV4Request.Field]) -> String {
        query.map { (encode($0.name), encode($0.value)) }
            .sorted { $0.0 != $1.0 ? $0.0 < $1.0 : $0.1 < $1.1 }
            .map { "\($0.0)=\($0.1)" }
            .joined(separator: "&")
    }

    /// Each segment encoded, the slashes kept: the path both as signed and as sent.
    public static func encodePath(_ path: String) -> String {
        let encoded = path.split(separator: "/", omittingEmptySubsequences: false).map { encode(String($0)) }
            .joined(separator: "/")
        return encoded.hasPrefix("/") ? encoded : "/" + encoded
    }

    /// RFC 3986 percent-encoding of every byte but the unreserved `A-Z a-z 0-9 - . _ ~`
    /// (upper-case hex, space as `%20`): SigV4's UriEncode, used for the query as sent too.
    public static func encode(_ text: String) -> String {
        let hex = Array("0123456789ABCDEF".utf8)
        var out = [UInt8]()
        out.reserveCapacity(text.utf8.count)
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"),
                 UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "."),
                 UInt8(ascii: "_"), UInt8(ascii: "~"):
                out.append(byte)
            default:
                out.append(UInt8(ascii: "%"))
                out.append(hex[Int(byte >> 4)])
                out.append(hex[Int(byte & 0x0F)])
            }
        }
        return String(decoding: out, as: UTF8.self)
    }
}
