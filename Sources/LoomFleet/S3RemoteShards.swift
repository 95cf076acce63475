import Foundation
import LoomObjectStore
import LoomStore

/// A fleet store's shards as objects under `s3://bucket/prefix/shards/`, read through this
/// machine's ``ShardCache`` (whole shards fetched on first use and kept, LRU, within
/// `--cache-size`; a shard bigger than the whole cache is read by range GETs).
final class S3RemoteShards: RemoteShards {
    let client: S3Client
    let location: S3Location
    let cache: ShardCache

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

    func read(_ name: String, range: Range<Int64>) throws -> [UInt8] {
        let cache = self.cache
        return try Blocking.run { try await cache.read(name, range: range) }
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
