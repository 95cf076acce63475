import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import Synchronization

/// One object as a listing or HEAD describes it.
public struct ObjectInfo: Sendable, Hashable {
    public var key: String
    public var size: Int64
    /// The quotes S3 puts around it removed.
    public var etag: String?
    /// When the object was written, on the object store's clock (listings only).
    public var lastModified: Date?

    public init(key: String, size: Int64, etag: String?, lastModified: Date? = nil) {
        self.key = key
        self.size = size
        self.etag = etag
        self.lastModified = lastModified
    }

    /// S3's `LastModified`: ISO 8601 in UTC, with or without fractional seconds.
    static func parseTimestamp(_ text: String) -> Date? {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        if let date = formatter.date(from: text) { return date }
        formatter.formatOptions = [.withInternetDateTime]
        return formatter.date(from: text)
    }
}

/// One page of ListObjectsV2.
public struct ListPage: Sendable {
    public var objects: [ObjectInfo]
    /// Pass back for the next page; nil on the last.
    public var nextContinuationToken: String?
}

/// What a put did.
public enum PutOutcome: Sendable, Equatable {
    case stored(etag: String?)
    /// A conditional put (`If-None-Match: *`) found the key already there; nothing was written.
    /// Content-addressed callers treat this as success: the key names the bytes. A retried put
    /// whose first attempt did land also ends here.
    case alreadyExists
}

/// An S3 client over async-http-client: SigV4-signed requests, retries with exponential
/// backoff on 5xx, 429, timeouts and connection errors, and errors (``ObjectStoreError``) that
/// name the endpoint, bucket, key, HTTP status and S3 code.
public struct S3Client: Sendable {
    public let configuration: S3Configuration
    let http: HTTPClient
    let signer: SigV4Signer

    /// `httpClient` defaults to a process-wide client per connect timeout (never shut down, like
    /// `HTTPClient.shared`) that follows no redirects: a redirected S3 request would carry a
    /// signature for the wrong host.
    public init(configuration: S3Configuration, httpClient: HTTPClient? = nil) {
        self.configuration = configuration
        self.http = httpClient ?? Self.sharedHTTPClient(connectTimeout: configuration.connectTimeout)
        self.signer = SigV4Signer(credentials: configuration.credentials, region: configuration.region, service: "s3")
    }

    private static let httpClients = Mutex<[Duration: HTTPClient]>([:])

    static func sharedHTTPClient(connectTimeout: Duration) -> HTTPClient {
        httpClients.withLock { clients in
            if let client = clients[connectTimeout] { return client }
            var configuration = HTTPClient.Configuration()
            configuration.redirectConfiguration = .disallow
            configuration.decompression = .disabled
            configuration.timeout = .init(connect: .nanoseconds(connectTimeout.nanoseconds), read: .seconds(60))
            // A failed connection fails its request at once and the client's own RetryPolicy
            // retries it with backoff: left on, async-http-client would keep reconnecting until
            // the connect timeout, every attempt, and a refused endpoint took a minute to report.
            configuration.connectionPool.retryConnectionEstablishment = false
            let client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
            clients[connectTimeout] = client
            return client
        }
    }

    // MARK: Objects

    /// Stores `body` at `key`. With `ifNoneMatch`, sends `If-None-Match: *` so an existing key is
    /// left alone (``PutOutcome/alreadyExists``). Bodies over the configuration's
    /// `multipartThreshold` go up in parts.
    @discardableResult
    public func putObject(bucket: String, key: String, body: [UInt8], ifNoneMatch: Bool = false) async throws -> PutOutcome {
        if body.count > configuration.multipartThreshold {
            return try await multipartUpload(bucket: bucket, key: key, size: Int64(body.count), ifNoneMatch: ifNoneMatch) { offset, length in
                Array(body[Int(offset)..<Int(offset) + length])
            }
        }
        var headers = [SigV4Request.Field("Content-Type", "application/octet-stream")]
        if ifNoneMatch { headers.append(.init("If-None-Match", "*")) }
        let call = Call(operation: "PUT", method: .PUT, bucket: bucket, key: key, headers: headers,
                        body: ByteBuffer(bytes: body), payloadHash: SigV4Signer.payloadHash(body))
        let reply = try await send(call)
        switch reply.status {
        case 200: return .stored(etag: Self.etag(reply.headers))
        case 412 where ifNoneMatch: return .alreadyExists
        default: throw failure(call, reply)
        }
    }

    /// Stores the file at `path`, in parts when it is over the multipart threshold (read part by
    /// part, so a shard never has to fit in memory whole).
    @discardableResult
    public func putFile(bucket: String, key: String, path: String, ifNoneMatch: Bool = false) async throws -> PutOutcome {
        let file = try LocalFile(reading: path)
        if file.size <= Int64(configuration.multipartThreshold) {
            return try await putObject(bucket: bucket, key: key, body: file.read(offset: 0, length: Int(file.size)), ifNoneMatch: ifNoneMatch)
        }
        return try await multipartUpload(bucket: bucket, key: key, size: file.size, ifNoneMatch: ifNoneMatch) { offset, length in
            try file.read(offset: offset, length: length)
        }
    }

    /// The object's bytes, or those of `range` (an HTTP Range GET). A range that runs past the
    /// end gives the bytes up to the end, as S3 does; one that starts past it is invalid input.
    public func getObject(bucket: String, key: String, range: Range<Int64>? = nil) async throws -> [UInt8] {
        if let range, range.lowerBound < 0 {
            throw ObjectStoreError(code: .invalidInput, operation: "GET range", endpoint: "\(configuration.endpoint)",
                                   bucket: bucket, key: key, reason: "the range \(range) starts before the object")
        }
        if let range, range.isEmpty { return [] }
        var headers: [SigV4Request.Field] = []
        if let range { headers.append(.init("Range", "bytes=\(range.lowerBound)-\(range.upperBound - 1)")) }
        let call = Call(operation: range == nil ? "GET" : "GET range", method: .GET, bucket: bucket, key: key, headers: headers)
        let reply = try await send(call)
        var body = reply.body
        let bytes = body.readBytes(length: body.readableBytes) ?? []
        switch (reply.status, range) {
        case (200, nil): return bytes
        case (200, let range?):  // the endpoint ignored Range: cut the range out ourselves
            let start = Int(min(range.lowerBound, Int64(bytes.count))), end = Int(min(range.upperBound, Int64(bytes.count)))
            return Array(bytes[start..<end])
        case (206, let range?):
            guard Int64(bytes.count) <= Int64(range.count) else {
                throw ObjectStoreError(code: .corrupt, operation: call.operation, endpoint: "\(configuration.endpoint)",
                                       bucket: bucket, key: key, status: 206,
                                       reason: "asked for \(range.count) bytes at \(range.lowerBound), got \(bytes.count)")
            }
            return bytes
        default: throw failure(call, reply)
        }
    }

    /// Streams the whole object into a new file at `path` (created or truncated; rewritten
    /// from the start when a retry resumes). Returns the bytes written. With `expectedSize`, an
    /// object of another length is refused before a byte is written.
    @discardableResult
    public func download(bucket: String, key: String, to path: String, expectedSize: Int64? = nil) async throws -> Int64 {
        let call = Call(operation: "GET", method: .GET, bucket: bucket, key: key)
        let endpoint = "\(configuration.endpoint)"
        return try await send(call) { response in
            guard response.status.code == 200 else { return nil }
            let length = response.headers.first(name: "content-length").flatMap(Int64.init)
            if let expectedSize, let length, length != expectedSize {
                throw ObjectStoreError(code: .corrupt, operation: call.operation, endpoint: endpoint, bucket: bucket, key: key,
                                       status: 200, reason: "the object is \(length) bytes, expected \(expectedSize)")
            }
            let file = try LocalFile(writing: path)
            var written: Int64 = 0
            for try await chunk in response.body {
                try file.write(chunk, at: written)
                written += Int64(chunk.readableBytes)
            }
            if let length, length != written {
                throw TransportFailure(reason: "the body ended after \(written) of \(length) bytes")
            }
            try file.sync()
            return written
        }
    }

    /// Size and ETag of `key`, or nil when there is no such object.
    public func headObject(bucket: String, key: String) async throws -> ObjectInfo? {
        let call = Call(operation: "HEAD", method: .HEAD, bucket: bucket, key: key)
        let reply = try await send(call)
        switch reply.status {
        case 200:
            let size = reply.headers.first(name: "content-length").flatMap(Int64.init) ?? 0
            return ObjectInfo(key: key, size: size, etag: Self.etag(reply.headers))
        case 404: return nil
        default: throw failure(call, reply)
        }
    }

    /// Removes `key`; removing a key that is not there succeeds, as in S3.
    public func deleteObject(bucket: String, key: String) async throws {
        let call = Call(operation: "DELETE", method: .DELETE, bucket: bucket, key: key)
        let reply = try await send(call)
        guard [200, 204, 404].contains(reply.status) else { throw failure(call, reply) }
    }

    // MARK: Listing

    /// One page of ListObjectsV2 under `prefix` (at most `maxKeys`, which S3 caps at 1000).
    public func listObjects(bucket: String, prefix: String = "", continuationToken: String? = nil, maxKeys: Int = 1000) async throws -> ListPage {
        var query = [SigV4Request.Field("list-type", "2"), .init("max-keys", String(maxKeys))]
        if !prefix.isEmpty { query.append(.init("prefix", prefix)) }
        if let continuationToken { query.append(.init("continuation-token", continuationToken)) }
        let call = Call(operation: "ListObjectsV2", method: .GET, bucket: bucket, key: nil, query: query)
        let reply = try await send(call)
        guard reply.status == 200 else { throw failure(call, reply) }
        let xml = String(buffer: reply.body)
        var objects: [ObjectInfo] = []
        for entry in S3XML.elements("Contents", in: xml[...]) {
            guard let key = S3XML.value("Key", in: entry), let size = S3XML.value("Size", in: entry).flatMap(Int64.init) else {
                throw ObjectStoreError(code: .internal, operation: call.operation, endpoint: "\(configuration.endpoint)",
                                       bucket: bucket, status: 200, reason: "a <Contents> entry without <Key> or <Size>")
            }
            objects.append(ObjectInfo(key: key, size: size, etag: S3XML.value("ETag", in: entry).map(Self.unquote),
                                      lastModified: S3XML.value("LastModified", in: entry).flatMap(ObjectInfo.parseTimestamp)))
        }
        let truncated = S3XML.value("IsTruncated", in: xml) == "true"
        let next = S3XML.value("NextContinuationToken", in: xml)
        if truncated && (next ?? "").isEmpty {
            throw ObjectStoreError(code: .internal, operation: call.operation, endpoint: "\(configuration.endpoint)",
                                   bucket: bucket, status: 200, reason: "a truncated listing without NextContinuationToken")
        }
        return ListPage(objects: objects, nextContinuationToken: truncated ? next : nil)
    }

    /// Every object under `prefix`, page after page.
    public func listAllObjects(bucket: String, prefix: String = "", pageSize: Int = 1000) async throws -> [ObjectInfo] {
        var all: [ObjectInfo] = []
        var token: String?
        repeat {
            let page = try await listObjects(bucket: bucket, prefix: prefix, continuationToken: token, maxKeys: pageSize)
            all += page.objects
            token = page.nextContinuationToken
        } while token != nil
        return all
    }

    // MARK: Buckets

    /// Creates `bucket`; one that this account already owns is fine.
    public func createBucket(_ bucket: String) async throws {
        var body: [UInt8] = []
        if configuration.region != "us-east-1" {
            body = Array(("<CreateBucketConfiguration xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">"
                + "<LocationConstraint>\(S3XML.escape(configuration.region))</LocationConstraint></CreateBucketConfiguration>").utf8)
        }
        let call = Call(operation: "CreateBucket", method: .PUT, bucket: bucket, key: nil,
                        body: body.isEmpty ? nil : ByteBuffer(bytes: body), payloadHash: SigV4Signer.payloadHash(body))
        let reply = try await send(call)
        if reply.status == 200 { return }
        let error = failure(call, reply)
        if error.s3Code == "BucketAlreadyOwnedByYou" { return }
        throw error
    }

    // MARK: Helpers

    static func etag(_ headers: HTTPHeaders) -> String? {
        headers.first(name: "etag").map(unquote)
    }

    static func unquote(_ text: String) -> String {
        text.count >= 2 && text.hasPrefix("\"") && text.hasSuffix("\"") ? String(text.dropFirst().dropLast()) : text
    }
}
