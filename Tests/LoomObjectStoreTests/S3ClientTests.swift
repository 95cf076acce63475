import Foundation
import LoomObjectStore
import LoomTestSupport
import Testing

/// The client against a real SeaweedFS on loopback (one private server per test).
@Suite(.serialized, .enabled(if: SeaweedFSServer.binary != nil, Comment(rawValue: SeaweedFSServer.missingReason)))
struct S3ClientTests {
    /// `count` pseudo-random bytes, eight per draw (megabytes of them stay quick in debug builds).
    static func bytes(_ count: Int, seed: UInt64) -> [UInt8] {
        var generator = SeededGenerator(seed: seed)
        var bytes = [UInt8](repeating: 0, count: count)
        bytes.withUnsafeMutableBytes { buffer in
            var offset = 0
            while offset < count {
                var word = generator.next()
                let take = min(8, count - offset)
                withUnsafeBytes(of: &word) { buffer.baseAddress!.advanced(by: offset).copyMemory(from: $0.baseAddress!, byteCount: take) }
                offset += take
            }
        }
        return bytes
    }

    /// A descriptor the test process holds (here a pipe without FD_CLOEXEC, as Foundation's
    /// Process leaves the socket it watches a child by) must not stay open in weed, or a child
    /// started beside weed looks alive for as long as weed runs.
    @Test func weedInheritsNoDescriptorOfTheTestProcess() async throws {
        var ends: [Int32] = [0, 0]
        #expect(pipe(&ends) == 0)
        defer { ends.forEach { close($0) } }
        let ours = Set(ends.compactMap { Self.descriptorTarget("/proc/self/fd/\($0)") })
        #expect(ours.count == 1 && ours.first?.hasPrefix("pipe:") == true, "\(ours)")
        let server = try await SeaweedFSServer.started()
        defer { withExtendedLifetime(server) {} }
        let folder = "/proc/\(server.processID)/fd"
        let held = try FileManager.default.contentsOfDirectory(atPath: folder).compactMap { Self.descriptorTarget("\(folder)/\($0)") }
        #expect(!held.isEmpty, "cannot read \(folder)")
        #expect(held.allSatisfy { !ours.contains($0) }, "weed holds the test's pipe \(ours): \(held.sorted())")
    }

    private static func descriptorTarget(_ link: String) -> String? {
        try? FileManager.default.destinationOfSymbolicLink(atPath: link)
    }

    @Test func putGetRangeHeadDelete() async throws {
        let server = try await SeaweedFSServer.started()
        defer { withExtendedLifetime(server) {} }
        let client = S3Client(configuration: server.configuration())
        let body = Self.bytes(100_000, seed: 1)
        let key = "shards/a b+c/0001.lz4"  // a space and a plus: encoded in the path and the signature alike

        #expect(try await client.putObject(bucket: server.bucket, key: key, body: body) != .alreadyExists)
        #expect(try await client.getObject(bucket: server.bucket, key: key) == body)
        #expect(try await client.getObject(bucket: server.bucket, key: key, range: 1000..<1010) == Array(body[1000..<1010]))
        #expect(try await client.getObject(bucket: server.bucket, key: key, range: 99_990..<200_000) == Array(body[99_990...]))
        #expect(try await client.getObject(bucket: server.bucket, key: key, range: 5..<5) == [])

        let info = try #require(try await client.headObject(bucket: server.bucket, key: key))
        #expect(info.size == 100_000)
        #expect(info.etag?.isEmpty == false)
        #expect(try await client.headObject(bucket: server.bucket, key: "shards/missing") == nil)

        let missing = await #expect(throws: ObjectStoreError.self) {
            try await client.getObject(bucket: server.bucket, key: "shards/missing")
        }
        #expect(missing?.code == .notFound)
        #expect(missing?.status == 404)
        #expect(missing?.s3Code == "NoSuchKey")
        #expect(missing?.description.contains("s3://\(server.bucket)/shards/missing") == true)
        #expect(missing?.description.contains("http://127.0.0.1:\(server.s3Port)") == true)

        let pastEnd = await #expect(throws: ObjectStoreError.self) {
            try await client.getObject(bucket: server.bucket, key: key, range: 200_000..<200_010)
        }
        #expect(pastEnd?.status == 416)
        #expect(pastEnd?.code == .invalidInput)

        try await client.deleteObject(bucket: server.bucket, key: key)
        #expect(try await client.headObject(bucket: server.bucket, key: key) == nil)
        try await client.deleteObject(bucket: server.bucket, key: key)  // deleting again is fine
    }

    /// SeaweedFS 4.48 honours `If-None-Match: *` on PutObject (412 PreconditionFailed): the
    /// second writer of a key changes nothing.
    @Test func conditionalPutLeavesAnExistingObjectAlone() async throws {
        let server = try await SeaweedFSServer.started()
        defer { withExtendedLifetime(server) {} }
        let client = S3Client(configuration: server.configuration())
        let first = Self.bytes(4096, seed: 2), second = Self.bytes(4096, seed: 3)

        guard case .stored = try await client.putObject(bucket: server.bucket, key: "k", body: first, ifNoneMatch: true) else {
            Issue.record("the first conditional put did not store")
            return
        }
        #expect(try await client.putObject(bucket: server.bucket, key: "k", body: second, ifNoneMatch: true) == .alreadyExists)
        #expect(try await client.getObject(bucket: server.bucket, key: "k") == first)
        // Unconditional puts still overwrite.
        _ = try await client.putObject(bucket: server.bucket, key: "k", body: second)
        #expect(try await client.getObject(bucket: server.bucket, key: "k") == second)
    }

    @Test func listingFollowsContinuationTokensUnderAPrefix() async throws {
        let server = try await SeaweedFSServer.started()
        defer { withExtendedLifetime(server) {} }
        let client = S3Client(configuration: server.configuration())
        let keys = (0..<57).map { String(format: "run/shards/%04d", $0) }
        try await withThrowingTaskGroup(of: Void.self) { group in
            for (index, key) in keys.enumerated() {
                group.addTask { _ = try await client.putObject(bucket: server.bucket, key: key, body: [UInt8(index)]) }
            }
            group.addTask { _ = try await client.putObject(bucket: server.bucket, key: "run/other", body: [1, 2]) }
            group.addTask { _ = try await client.putObject(bucket: server.bucket, key: "elsewhere/0001", body: [1]) }
            try await group.waitForAll()
        }

        let first = try await client.listObjects(bucket: server.bucket, prefix: "run/shards/", maxKeys: 10)
        #expect(first.objects.map(\.key) == Array(keys.prefix(10)))
        #expect(first.nextContinuationToken != nil)

        let all = try await client.listAllObjects(bucket: server.bucket, prefix: "run/shards/", pageSize: 10)
        #expect(all.map(\.key) == keys)
        #expect(all.allSatisfy { $0.size == 1 })

        let everything = try await client.listAllObjects(bucket: server.bucket, pageSize: 7)
        #expect(everything.count == keys.count + 2)
        #expect(try await client.listObjects(bucket: server.bucket, prefix: "nothing/").objects.isEmpty)
    }

    @Test func multipartUploadOfAFileRoundTrips() async throws {
        let server = try await SeaweedFSServer.started()
        defer { withExtendedLifetime(server) {} }
        var configuration = server.configuration()
        configuration.multipartThreshold = S3Configuration.minimumPartSize
        configuration.partSize = S3Configuration.minimumPartSize
        configuration.partConcurrency = 2
        let client = S3Client(configuration: configuration)
        let body = Self.bytes(S3Configuration.minimumPartSize * 2 + 12345, seed: 4)  // three parts, the last short
        let folder = try TemporaryDirectory()
        let path = try folder.write(body, to: "shard.lz4")

        guard case .stored = try await client.putFile(bucket: server.bucket, key: "big/shard", path: path, ifNoneMatch: true) else {
            Issue.record("the multipart upload did not store")
            return
        }
        #expect(try await client.headObject(bucket: server.bucket, key: "big/shard")?.size == Int64(body.count))
        #expect(try await client.getObject(bucket: server.bucket, key: "big/shard") == body)
        let downloaded = folder.appending("copy")
        #expect(try await client.download(bucket: server.bucket, key: "big/shard", to: downloaded) == Int64(body.count))
        #expect(try [UInt8](Data(contentsOf: URL(fileURLWithPath: downloaded))) == body)

        // The same key again, conditionally: nothing is uploaded, nothing changes.
        let other = try folder.write(Self.bytes(body.count, seed: 5), to: "other.lz4")
        #expect(try await client.putFile(bucket: server.bucket, key: "big/shard", path: other, ifNoneMatch: true) == .alreadyExists)
        #expect(try await client.getObject(bucket: server.bucket, key: "big/shard", range: 0..<64) == Array(body[0..<64]))
        // A multipart body from memory takes the same path.
        let memory = Self.bytes(S3Configuration.minimumPartSize + 1, seed: 6)
        _ = try await client.putObject(bucket: server.bucket, key: "big/memory", body: memory)
        #expect(try await client.getObject(bucket: server.bucket, key: "big/memory") == memory)
    }

    @Test func wrongCredentialsFailAtOnceNamingTheEndpoint() async throws {
        let server = try await SeaweedFSServer.started()
        defer { withExtendedLifetime(server) {} }
        var configuration = server.configuration()
        configuration.credentials.secretAccessKey = "not-the-secret"
        let client = S3Client(configuration: configuration)
        let error = await #expect(throws: ObjectStoreError.self) {
            try await client.putObject(bucket: server.bucket, key: "k", body: [1])
        }
        #expect(error?.status == 403)
        #expect(error?.s3Code == "SignatureDoesNotMatch")
        #expect(error?.code == .unavailable)
        #expect(error?.attempts == 1)  // a 403 is not retried
        #expect(error?.description.contains("127.0.0.1:\(server.s3Port)") == true)
    }

    @Test func createBucketIsIdempotent() async throws {
        let server = try await SeaweedFSServer.started()
        defer { withExtendedLifetime(server) {} }
        let client = S3Client(configuration: server.configuration())
        try await client.createBucket("second-bucket")
        try await client.createBucket("second-bucket")
        _ = try await client.putObject(bucket: "second-bucket", key: "x", body: [7])
        #expect(try await client.getObject(bucket: "second-bucket", key: "x") == [7])
    }
}
