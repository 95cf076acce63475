import Foundation
@testable import LoomObjectStore
import LoomTestSupport
import Testing

/// The multipart steps one by one, where the public calls hide them.
@Suite(.serialized, .enabled(if: SeaweedFSServer.binary != nil, Comment(rawValue: SeaweedFSServer.missingReason)))
struct S3MultipartTests {
    /// A writer that finished first wins: completing a second upload of the key with
    /// `If-None-Match: *` must not replace it.
    @Test func conditionalCompletionOfARacingUpload() async throws {
        let server = try await SeaweedFSServer.started()
        defer { withExtendedLifetime(server) {} }
        let client = S3Client(configuration: server.configuration())
        let part = S3ClientTests.bytes(S3Configuration.minimumPartSize, seed: 11)
        let uploadID = try await client.createMultipartUpload(bucket: server.bucket, key: "race")
        let etag = try await client.uploadPart(bucket: server.bucket, key: "race", uploadID: uploadID, number: 1, bytes: part)
        _ = try await client.putObject(bucket: server.bucket, key: "race", body: [1, 2, 3])  // the other writer

        let outcome = try await client.completeMultipartUpload(bucket: server.bucket, key: "race", uploadID: uploadID,
                                                               etags: [etag], ifNoneMatch: true)
        #expect(outcome == .alreadyExists)
        #expect(try await client.getObject(bucket: server.bucket, key: "race") == [1, 2, 3])
    }
}
