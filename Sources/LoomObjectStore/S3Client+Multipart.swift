import NIOCore
import NIOHTTP1

extension S3Client {
    /// Uploads `size` bytes, read by `part(offset, length)`, as a multipart upload: parts of
    /// `partSize` (the last one shorter), `partConcurrency` at a time, each retried on its own.
    /// A failed upload is aborted so its parts do not linger (and bill) on the server.
    ///
    /// With `ifNoneMatch` the key is checked first (an existing object is left alone, and no part
    /// is sent) and the completion carries `If-None-Match: *` for a writer that got there meanwhile.
    func multipartUpload(bucket: String, key: String, size: Int64, ifNoneMatch: Bool,
                         part: @escaping @Sendable (Int64, Int) throws -> [UInt8]) async throws -> PutOutcome {
        if ifNoneMatch, try await headObject(bucket: bucket, key: key) != nil { return .alreadyExists }
        let uploadID = try await createMultipartUpload(bucket: bucket, key: key)
        do {
            let partSize = Int64(configuration.partSize)
            let count = Int((size + partSize - 1) / partSize)
            var etags = [String](repeating: "", count: count)
            try await withThrowingTaskGroup(of: (Int, String).self) { group in
                var next = 0
                func start() {
                    let index = next
                    next += 1
                    group.addTask {
                        let offset = Int64(index) * partSize
                        let bytes = try part(offset, Int(min(partSize, size - offset)))
                        return (index, try await uploadPart(bucket: bucket, key: key, uploadID: uploadID, number: index + 1, bytes: bytes))
                    }
                }
                while next < min(count, configuration.partConcurrency) { start() }
                while let (index, etag) = try await group.next() {
                    etags[index] = etag
                    if next < count { start() }
                }
            }
            let outcome = try await completeMultipartUpload(bucket: bucket, key: key, uploadID: uploadID, etags: etags, ifNoneMatch: ifNoneMatch)
            if outcome == .alreadyExists { try? await abortMultipartUpload(bucket: bucket, key: key, uploadID: uploadID) }
            return outcome
        } catch {
            try? await abortMultipartUpload(bucket: bucket, key: key, uploadID: uploadID)
            throw error
        }
    }

    func createMultipartUpload(bucket: String, key: String) async throws -> String {
        let call = Call(operation: "CreateMultipartUpload", method: .POST, bucket: bucket, key: key,
                        query: [.init("uploads", "")], headers: [.init("Content-Type", "application/octet-stream")])
        let reply = try await send(call)
        guard reply.status == 200 else { throw failure(call, reply) }
        guard let id = S3XML.value("UploadId", in: String(buffer: reply.body)), !id.isEmpty else {
            throw ObjectStoreError(code: .internal, operation: call.operation, endpoint: "\(configuration.endpoint)",
                                   bucket: bucket, key: key, status: 200, reason: "the answer holds no <UploadId>")
        }
        return id
    }

    func uploadPart(bucket: String, key: String, uploadID: String, number: Int, bytes: [UInt8]) async throws -> String {
        let call = Call(operation: "UploadPart \(number)", method: .PUT, bucket: bucket, key: key,
                        query: [.init("partNumber", String(number)), .init("uploadId", uploadID)],
                        body: ByteBuffer(bytes: bytes), payloadHash: SigV4Signer.payloadHash(bytes))
        let reply = try await send(call)
        guard reply.status == 200 else { throw failure(call, reply) }
        guard let etag = reply.headers.first(name: "etag") else {
            throw ObjectStoreError(code: .internal, operation: call.operation, endpoint: "\(configuration.endpoint)",
                                   bucket: bucket, key: key, status: 200, reason: "the answer has no ETag header")
        }
        return etag
    }

    func completeMultipartUpload(bucket: String, key: String, uploadID: String, etags: [String], ifNoneMatch: Bool) async throws -> PutOutcome {
        var xml = "<CompleteMultipartUpload xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">"
        for (index, etag) in etags.enumerated() {
            xml += "<Part><PartNumber>\(index + 1)</PartNumber><ETag>\(S3XML.escape(etag))</ETag></Part>"
        }
        xml += "</CompleteMultipartUpload>"
        let body = Array(xml.utf8)
        var headers = [SigV4Request.Field("Content-Type", "application/xml")]
        if ifNoneMatch { headers.append(.init("If-None-Match", "*")) }
        let call = Call(operation: "CompleteMultipartUpload", method: .POST, bucket: bucket, key: key,
                        query: [.init("uploadId", uploadID)], headers: headers,
                        body: ByteBuffer(bytes: body), payloadHash: SigV4Signer.payloadHash(body))
        let reply = try await send(call)
        if reply.status == 412 && ifNoneMatch { return .alreadyExists }
        // S3 may answer 200 and put the error in the body (it has sent the status before it knows).
        guard reply.status == 200, !String(buffer: reply.body).contains("<Error>") else {
            var error = failure(call, reply)
            if reply.status == 200 { error.code = .unavailable }
            throw error
        }
        return .stored(etag: S3XML.value("ETag", in: String(buffer: reply.body)).map(Self.unquote))
    }

    func abortMultipartUpload(bucket: String, key: String, uploadID: String) async throws {
        let call = Call(operation: "AbortMultipartUpload", method: .DELETE, bucket: bucket, key: key,
                        query: [.init("uploadId", uploadID)])
        let reply = try await send(call)
        guard [200, 204, 404].contains(reply.status) else { throw failure(call, reply) }
    }
}
