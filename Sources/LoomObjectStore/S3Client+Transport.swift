import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1

extension S3Client {
    /// One S3 request before signing.
    struct Call: Sendable {
        var operation: String
        var method: HTTPMethod
        var bucket: String?
        var key: String?
        var query: [SigV4Request.Field] = []
        var headers: [SigV4Request.Field] = []
        var body: ByteBuffer?
        var payloadHash: String = SigV4Signer.emptyPayloadHash
    }

    /// A response read whole.
    struct Reply: Sendable {
        var status: Int
        var headers: HTTPHeaders
        var body: ByteBuffer
    }

    /// A failure worth another attempt that is not the transport's own error (a short body).
    struct TransportFailure: Error, CustomStringConvertible {
        var reason: String
        var description: String { reason }
    }

    /// Sends `call` and reads the whole response, retrying 5xx, 429 and transport failures.
    func send(_ call: Call) async throws -> Reply {
        try await send(call) { response in
            // Bounded by what the caller asked for (an object, a page of a listing), not here.
            let body = try await response.body.collect(upTo: .max)
            return Reply(status: Int(response.status.code), headers: response.headers, body: body)
        }
    }

    /// Sends `call` and hands a response to `handle`, retrying 5xx, 429 and transport failures
    /// (also those while `handle` reads the body). When `handle` returns nil the response was
    /// not a success: it is read and thrown as an ``ObjectStoreError``.
    func send<T: Sendable>(_ call: Call, streaming handle: (HTTPClientResponse) async throws -> T?) async throws -> T {
        let policy = configuration.retry
        var attempt = 0
        while true {
            attempt += 1
            let retryable: ObjectStoreError
            do {
                let response = try await http.execute(request(for: call), timeout: .nanoseconds(configuration.requestTimeout.nanoseconds))
                let status = Int(response.status.code)
                if status >= 500 || status == 429 {
                    let body = try await response.body.collect(upTo: .max)
                    retryable = failure(call, Reply(status: status, headers: response.headers, body: body), attempts: attempt)
                } else if let value = try await handle(response) {
                    return value
                } else {
                    let body = try await response.body.collect(upTo: .max)
                    throw failure(call, Reply(status: status, headers: response.headers, body: body), attempts: attempt)
                }
            } catch let error as ObjectStoreError {
                throw error
            } catch {
                guard Self.isRetryable(error) else {
                    throw ObjectStoreError(code: .unavailable, operation: call.operation, endpoint: "\(configuration.endpoint)",
                                           bucket: call.bucket, key: call.key, reason: Self.describe(error), attempts: attempt)
                }
                retryable = ObjectStoreError(code: .unavailable, operation: call.operation, endpoint: "\(configuration.endpoint)",
                                             bucket: call.bucket, key: call.key, reason: Self.describe(error), attempts: attempt)
            }
            guard attempt < policy.maxAttempts, !Task.isCancelled else { throw retryable }
            try await Task.sleep(for: policy.backoff(after: attempt))
        }
    }

    /// The signed request: path-style `endpoint/bucket/key` or virtual-host `bucket.endpoint/key`.
    func request(for call: Call) -> HTTPClientRequest {
        let endpoint = configuration.endpoint
        var host = endpoint.authority
        var path = endpoint.basePath
        if let bucket = call.bucket {
            switch configuration.addressing {
            case .path: path += "/" + bucket
            case .virtualHost: host = bucket + "." + host
            }
        }
        if let key = call.key { path += "/" + key }
        if path.isEmpty { path = "/" }
        let query = SigV4Signer.canonicalQuery(call.query)
        var request = HTTPClientRequest(url: "\(endpoint.scheme)://\(host)\(SigV4Signer.encodePath(path))" + (query.isEmpty ? "" : "?" + query))
        request.method = call.method
        let unsigned = SigV4Request(method: call.method.rawValue, path: path, query: call.query,
                                    headers: [.init("Host", host)] + call.headers, payloadHash: call.payloadHash)
        for header in signer.sign(unsigned, date: Date()) {
            request.headers.add(name: header.name, value: header.value)
        }
        if let body = call.body {
            request.body = .bytes(body)
        }
        return request
    }

    /// The error a non-success reply stands for, with S3's `<Code>` and `<Message>` when it sent them.
    func failure(_ call: Call, _ reply: Reply, attempts: Int = 1) -> ObjectStoreError {
        let xml = String(buffer: reply.body)
        let s3Code = S3XML.value("Code", in: xml)
        let message = S3XML.value("Message", in: xml)
        let code: ObjectStoreError.Code
        switch reply.status {
        case 404: code = .notFound
        case 409, 412: code = .conflict
        case 401, 403: code = .unavailable
        case 400..<500: code = .invalidInput
        case 500...: code = .unavailable
        default: code = .internal
        }
        let reason = message ?? (reply.status == 404 ? "no such object" : HTTPResponseStatus(statusCode: reply.status).reasonPhrase)
        return ObjectStoreError(code: code, operation: call.operation, endpoint: "\(configuration.endpoint)",
                                bucket: call.bucket, key: call.key, status: reply.status, s3Code: s3Code,
                                reason: reason, attempts: attempts)
    }

    /// Everything but a cancellation or a request that cannot be built is worth another try:
    /// refused and reset connections, timeouts, a body cut short.
    static func isRetryable(_ error: any Error) -> Bool {
        if error is CancellationError || Task.isCancelled { return false }
        if let error = error as? HTTPClientError {
            return ![HTTPClientError.invalidURL, .emptyHost, .emptyScheme, .alreadyShutdown, .cancelled].contains(error)
        }
        return true
    }

    static func describe(_ error: any Error) -> String {
        let text = "\(error)"
        if text.contains("Connection refused") { return "connection refused" }
        if text.contains("Connection reset") { return "connection reset by peer" }
        if let error = error as? HTTPClientError {
            switch error {
            case .remoteConnectionClosed: return "the server closed the connection mid-request"
            case .connectTimeout: return "connecting timed out"
            case .readTimeout: return "reading the response timed out"
            case .deadlineExceeded: return "the request timed out"
            default: break
            }
        }
        return text.count > 400 ? String(text.prefix(400)) + "..." : text
    }
}

extension Duration {
    var nanoseconds: Int64 {
        components.seconds * 1_000_000_000 + components.attoseconds / 1_000_000_000
    }
}
