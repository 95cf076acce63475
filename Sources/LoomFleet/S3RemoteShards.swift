import Foundation
import LoomObjectStore
import LoomStore
import Synchronization

/// A fleet store's shards as objects under `s3://bucket/prefix/shards/`, read through this
/// machine's ``ShardCache`` (whole shards fetched on first use and kept, LRU, within
/// `--cache-size`; a shard bigger than the whole cache is read by range GETs).
final class S3RemoteShards: RemoteShards {
    let client: S3Client
    let location: S3Location
    let cache: ShardCache
    /// Cached shards held open for reads that skip the cache's bookkeeping, by name; at most
    /// ``openLimit``, and one the cache has evicted is dropped at its next read.
    private let open = Mutex<[String: CachedShardFile]>([:])
    private static let openLimit = 256

    /// - Parameters:
    ///   - blobs: the store's `s3://bucket/prefix`; shard objects go under `prefix/shards/`.
    ///   - cacheDirectory: the working folder's cache; `cacheLimit` bytes at most.
    init(client: S3Client, blobs: S3Location, cacheDirectory: String, cacheLimit: Int64) throws {
        self.client = client
        let prefix = blobs.prefix.isEmpty || blobs.prefix.hasSuffix("/") ? blobs.prefix : blobs.prefix + "/"
        location = S3Location(bucket: blobs.bucket, prefix: prefix + "shards/")
        cache = try ShardCache(directory: cacheDirectory, limit: cacheLimit,
                               source: S3ShardSource(client: client, location: location))
    }

    var description: String { "\(location) at \(client.configuration.endpoint)" }

    func url(of name: String) -> String { "\(location)\(name)" }

    /// A warm read is one `pread` on a shard file held open; a cold one goes through the cache
    /// (downloading the shard whole, or a range GET for one bigger than the cache) and then
    /// opens the file the download left, for the reads that follow.
    func read(_ name: String, range: Range<Int64>) throws -> [UInt8] {
        if let file = open.withLock({ $0[name] }) {
            if !file.isEvicted { return try file.read(range) }
            open.withLock { _ = $0.removeValue(forKey: name) }
        }
        let cache = self.cache
        let bytes = try Blocking.run { try await cache.read(name, range: range) }
        if let file = cache.openCached(name) {
            open.withLock { files in
                // A cold read is rare next to warm ones: the moment to let go of evicted files.
                files = files.filter { !$0.value.isEvicted }
                if files.count >= Self.openLimit, let any = files.keys.first { files[any] = nil }
                files[name] = file
            }
        }
        return bytes
    }

    func upload(_ path: String, as name: String) throws {
        let client = self.client, location = self.location
        try Blocking.run {
            // A conditional put that finds the key taken is this writer's own retried put
            // that landed: shard ids are reserved in the catalog, so no other writer has it.
            _ = try await client.putFile(bucket: location.bucket, key: location.key(name), path: path, ifNoneMatch: true)
        }
    }

    func adopt(_ path: String, as name: String) {
        let cache = self.cache
        _ = try? Blocking.run { await cache.adopt(path, as: name) }
    }

    func delete(_ name: String) throws {
        let client = self.client, location = self.location, cache = self.cache
        try Blocking.run {
            try await client.deleteObject(bucket: location.bucket, key: location.key(name))
            await cache.remove(name)
        }
        open.withLock { _ = $0.removeValue(forKey: name) }
    }

    func list() throws -> [RemoteShardObject] {
        let client = self.client, location = self.location
        return try Blocking.run {
            try await client.listAllObjects(bucket: location.bucket, prefix: location.prefix).map {
                RemoteShardObject(name: String($0.key.dropFirst(location.prefix.count)), size: $0.size, written: $0.lastModified)
            }
        }
    }

    func probe() throws {
        let client = self.client, location = self.location
        _ = try Blocking.run { try await client.listObjects(bucket: location.bucket, prefix: location.prefix, maxKeys: 1).objects.count }
    }
}
