import Foundation
import LoomObjectStore
import LoomTestSupport
import Testing

/// The local shard cache over objects in a real SeaweedFS.
@Suite(.serialized, .enabled(if: SeaweedFSServer.binary != nil, Comment(rawValue: SeaweedFSServer.missingReason)))
struct ShardCacheTests {
    /// A server holding `count` objects `shard-N` of `size` bytes each, and their bytes.
    static func serverWithShards(_ count: Int, size: Int) async throws -> (SeaweedFSServer, S3ShardSource, [[UInt8]]) {
        let server = try await SeaweedFSServer.started()
        let client = S3Client(configuration: server.configuration())
        let location = S3Location(bucket: server.bucket, prefix: "store/shards")
        let shards = (0..<count).map { S3ClientTests.bytes(size, seed: UInt64(100 + $0)) }
        for (index, shard) in shards.enumerated() {
            _ = try await client.putObject(bucket: location.bucket, key: location.key("shard-\(index)"), body: shard)
        }
        return (server, S3ShardSource(client: client, location: location), shards)
    }

    /// Bytes of the regular files in `folder` right now (partial downloads included).
    static func folderBytes(_ folder: String) -> Int64 {
        let files = (try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? []
        return files.reduce(0) { total, file in
            let size = (try? FileManager.default.attributesOfItem(atPath: folder + "/" + file)[.size] as? NSNumber)?.int64Value
            return total + (size ?? 0)
        }
    }

    @Test func evictionKeepsTheFolderUnderTheLimit() async throws {
        let size = 40_000
        let (server, source, shards) = try await Self.serverWithShards(10, size: size)
        defer { withExtendedLifetime(server) {} }
        let folder = try TemporaryDirectory()
        let limit = Int64(size * 3 + size / 2)  // room for three shards, not four
        let cache = try ShardCache(directory: folder.appending("cache"), limit: limit, source: source, maxDownloads: 3)

        // Two epochs, four reads at a time: every read returns the right bytes and the folder
        // (partials included) is under the limit whenever a read completes.
        for epoch in 0..<2 {
            try await withThrowingTaskGroup(of: Int64.self) { group in
                for index in 0..<shards.count {
                    if index >= 4 { _ = try await group.next().map { #expect($0 <= limit) } }
                    group.addTask {
                        let offset = Int64(epoch * 1000 + index)
                        let bytes = try await cache.read("shard-\(index)", range: offset..<offset + 500)
                        #expect(bytes == Array(shards[index][Int(offset)..<Int(offset) + 500]))
                        return Self.folderBytes(cache.directory)
                    }
                }
                for try await seen in group { #expect(seen <= limit) }
            }
            #expect(await cache.bytesUsed <= limit)
            #expect(Self.folderBytes(cache.directory) <= limit)
        }
        let stats = await cache.stats
        #expect(stats.downloads >= shards.count)
        #expect(stats.evictions >= stats.downloads - 3)
        #expect(await cache.cachedNames.count <= 3)
        // LRU: after reading three other shards one at a time (concurrent reads above finish
        // in any order), those three are what the cache holds.
        for index in 1...3 { _ = try await cache.read("shard-\(index)", range: 0..<10) }
        #expect(await cache.cachedNames == ["shard-1", "shard-2", "shard-3"])
    }

    @Test func concurrentReadsOfOneShardShareOneDownload() async throws {
        let (server, source, shards) = try await Self.serverWithShards(1, size: 300_000)
        defer { withExtendedLifetime(server) {} }
        let folder = try TemporaryDirectory()
        let cache = try ShardCache(directory: folder.path, limit: 1 << 20, source: source)
        try await withThrowingTaskGroup(of: Void.self) { group in
            for reader in 0..<8 {
                group.addTask {
                    let start = Int64(reader * 10_000)
                    let bytes = try await cache.read("shard-0", range: start..<start + 100)
                    #expect(bytes == Array(shards[0][Int(start)..<Int(start) + 100]))
                }
            }
            try await group.waitForAll()
        }
        #expect(await cache.stats.downloads == 1)
        #expect(try await cache.data("shard-0") == shards[0])
        #expect(await cache.stats.downloads == 1)
    }

    @Test func reopeningDropsPartialDownloadsAndKeepsWholeShards() async throws {
        let (server, source, shards) = try await Self.serverWithShards(3, size: 10_000)
        defer { withExtendedLifetime(server) {} }
        let folder = try TemporaryDirectory()
        let first = try ShardCache(directory: folder.path, limit: 1 << 20, source: source)
        await first.prefetch(["shard-0", "shard-1"])
        try await first.fetch("shard-0")
        try await first.fetch("shard-1")
        // What a crash mid-download leaves behind.
        try folder.write([UInt8](repeating: 7, count: 5000), to: ".partial-crashed")

        let reopened = try ShardCache(directory: folder.path, limit: 1 << 20, source: source)
        #expect(!FileManager.default.fileExists(atPath: folder.appending(".partial-crashed")))
        #expect(await reopened.cachedNames == ["shard-0", "shard-1"])
        #expect(await reopened.bytesUsed == 20_000)
        #expect(try await reopened.read("shard-1", range: 0..<16) == Array(shards[1][0..<16]))
        #expect(await reopened.stats == ShardCache.Statistics(hits: 1, downloads: 0, rangeReads: 0, evictions: 0))

        // Reopened with a smaller limit: the oldest go until the rest fits.
        let smaller = try ShardCache(directory: folder.path, limit: 15_000, source: source)
        #expect(await smaller.bytesUsed <= 15_000)
        #expect(Self.folderBytes(folder.path) <= 15_000)
    }

    @Test func rangeReadsWithoutFetchingAndShardsBiggerThanTheCache() async throws {
        let (server, source, shards) = try await Self.serverWithShards(2, size: 50_000)
        defer { withExtendedLifetime(server) {} }
        let folder = try TemporaryDirectory()
        let cache = try ShardCache(directory: folder.path, limit: 30_000, source: source)

        // Bigger than the whole cache: served by range GETs, never stored.
        #expect(try await cache.read("shard-0", range: 100..<200) == Array(shards[0][100..<200]))
        #expect(await cache.bytesUsed == 0)
        // Random access on request: a range GET, nothing stored either.
        #expect(try await cache.read("shard-1", range: 49_990..<60_000, fetchWhole: false) == Array(shards[1][49_990...]))
        #expect(await cache.stats.rangeReads == 2)
        #expect(await cache.stats.downloads == 0)
        #expect(Self.folderBytes(folder.path) == 0)

        let missing = await #expect(throws: ObjectStoreError.self) {
            try await cache.read("shard-404", range: 0..<1)
        }
        #expect(missing?.code == .notFound)
        #expect(missing?.key == "store/shards/shard-404")
        for (name, range) in [("shard-1", Int64(-1)..<10), ("", 0..<10)] {
            let bad = await #expect(throws: ObjectStoreError.self) { try await cache.read(name, range: range) }
            #expect(bad?.code == .invalidInput)
        }
        let negative = await #expect(throws: ObjectStoreError.self) {
            try await source.client.getObject(bucket: source.location.bucket, key: "x", range: -5..<5)
        }
        #expect(negative?.code == .invalidInput)
    }

    @Test func aZeroLimitIsRefusedNamingTheFlag() throws {
        let folder = try TemporaryDirectory()
        let source = S3ShardSource(
            client: S3Client(configuration: S3Configuration(endpoint: S3Endpoint(scheme: "http", host: "127.0.0.1", port: 9),
                                                            credentials: AWSCredentials(accessKeyID: "a", secretAccessKey: "b"))),
            location: S3Location(bucket: "bucket"))
        let error = #expect(throws: ObjectStoreError.self) {
            try ShardCache(directory: folder.path, limit: 0, source: source)
        }
        #expect(error?.description.contains("--cache-size") == true)
        #expect(ShardCache.defaultLimit(for: folder.appending("not/yet/made")) > 0)
    }
}
