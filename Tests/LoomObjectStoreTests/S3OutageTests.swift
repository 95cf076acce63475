import Foundation
@testable import LoomObjectStore
import LoomTestSupport
import Testing

/// The object store killed in the middle of an upload, then restarted.
@Suite(.serialized, .enabled(if: SeaweedFSServer.binary != nil, Comment(rawValue: SeaweedFSServer.missingReason)))
struct S3OutageTests {
    @Test func killedMidUploadFailsNamingTheEndpointAndARerunSucceeds() async throws {
        let server = try await SeaweedFSServer.started()
        defer { withExtendedLifetime(server) {} }
        var configuration = server.configuration()
        configuration.partSize = S3Configuration.minimumPartSize
        configuration.multipartThreshold = S3Configuration.minimumPartSize
        configuration.partConcurrency = 1
        let client = S3Client(configuration: configuration)
        let partSize = S3Configuration.minimumPartSize
        let body = S3ClientTests.bytes(partSize * 3 + 1000, seed: 9)
        let key = "shards/outage"

        // Two parts go up; SeaweedFS is SIGKILLed while the third is being read, so its request
        // meets a dead port (no clock decides when).
        let error = await #expect(throws: ObjectStoreError.self) {
            try await client.multipartUpload(bucket: server.bucket, key: key, size: Int64(body.count), ifNoneMatch: true) { offset, length in
                if offset == Int64(2 * partSize) { server.kill() }
                return Array(body[Int(offset)..<Int(offset) + length])
            }
        }
        #expect(!server.isRunning)
        #expect(error?.code == .unavailable)
        #expect(error?.operation == "UploadPart 3")
        #expect(error?.attempts == configuration.retry.maxAttempts)
        let text = error.map(String.init(describing:)) ?? ""
        #expect(text.contains("http://127.0.0.1:\(server.s3Port)"), "\(text)")
        #expect(text.contains("s3://\(server.bucket)/\(key)"), "\(text)")
        #expect(text.contains("connection refused"), "\(text)")

        // Down: a plain put fails the same way, after its retries.
        let down = await #expect(throws: ObjectStoreError.self) {
            try await client.putObject(bucket: server.bucket, key: "small", body: [1, 2, 3])
        }
        #expect(down?.description.contains("127.0.0.1:\(server.s3Port)") == true)

        try await server.start()
        // Nothing half-committed: the interrupted upload never became an object.
        #expect(try await client.headObject(bucket: server.bucket, key: key) == nil)
        let folder = try TemporaryDirectory()
        let path = try folder.write(body, to: "shard")
        guard case .stored = try await client.putFile(bucket: server.bucket, key: key, path: path, ifNoneMatch: true) else {
            Issue.record("the rerun did not store the object")
            return
        }
        #expect(try await client.getObject(bucket: server.bucket, key: key) == body)
    }

    /// A server that is down for the first attempts and back before the last one: the retries
    /// carry the request through.
    @Test func retriesCarryARequestAcrossARestart() async throws {
        let server = try await SeaweedFSServer.started()
        defer { withExtendedLifetime(server) {} }
        let client = S3Client(configuration: server.configuration(
            retry: RetryPolicy(maxAttempts: 600, initialBackoff: .milliseconds(100), maxBackoff: .milliseconds(300))))
        _ = try await client.putObject(bucket: server.bucket, key: "before", body: [1, 2, 3])
        server.kill()
        async let read = client.getObject(bucket: server.bucket, key: "before")
        try await server.start()
        #expect(try await read == [1, 2, 3])
    }
}
