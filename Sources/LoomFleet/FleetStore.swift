import Foundation
import LoomObjectStore
import LoomStore

/// Opens a fleet store: the PostgreSQL catalog, the S3 shards and this machine's cache of them
/// in the working folder (`STORE/shard-cache/`).
public enum FleetStore {
    /// - Parameters:
    ///   - cacheBytes: the cache's limit; nil takes half the free space of the working folder's disk.
    /// - Throws: `StoreError.invalidArgument` for a bad URL, a directory that holds an embedded
    ///   store, or missing AWS variables (naming them); `.unavailable` when PostgreSQL cannot be
    ///   reached; `ObjectStoreError` from the object store.
    public static func open(_ layout: StoreLayout, configuration: FleetConfiguration, cacheBytes: Int64?, access: Store.Access,
                            environment: [String: String] = ProcessInfo.processInfo.environment) throws -> Store {
        try configuration.validate()
        guard let catalogURL = configuration.catalog, let blobsURL = configuration.blobs else {
            throw StoreError(.invalidArgument, "not a fleet configuration: it needs --catalog and --blobs")
        }
        if FileManager.default.fileExists(atPath: layout.catalogPath) {
            throw StoreError(.invalidArgument, """
                this directory holds an embedded store (catalog.sqlite); a fleet store's working folder is a directory of its own \
                (`loom copy` moves datasets between the two)
                """, path: layout.root)
        }
        let blobs = try S3Location(parsing: blobsURL, parameter: "--blobs")
        let s3: S3Configuration
        do {
            s3 = try S3Configuration.fromEnvironment(environment, bucket: blobs.bucket)
        } catch let error as ObjectStoreError {
            throw StoreError(.invalidArgument, "\(error) (needed for --blobs \(blobs))")
        }
        let catalog = try PostgresCatalog(catalogURL, migrate: access == .readWrite)
        let cacheDirectory = layout.root + "/shard-cache"
        let limit = cacheBytes ?? ShardCache.defaultLimit(for: layout.root)
        let shards = try S3RemoteShards(client: S3Client(configuration: s3), blobs: blobs, cacheDirectory: cacheDirectory, cacheLimit: limit)
        return try Store(layout, fleet: FleetBackends(catalog: catalog, shards: shards), access: access)
    }

    /// Lists one key under the store's prefix: the bucket exists and the credentials work.
    /// - Throws: `ObjectStoreError` naming the endpoint and bucket.
    public static func checkBlobs(_ store: Store) throws {
        guard let fleet = store.fleet else { return }
        try fleet.shards.probe()
    }
}
