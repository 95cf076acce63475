import Foundation

/// `loom gc` on a fleet store.
///
/// 1. The catalog drops what nothing references (``PostgresGarbage/collect(_:)``), and the rows of
///    shards left empty; their objects are deleted after that commit.
/// 2. Objects with no shard row (a writer killed between its upload and its commit) are deleted
///    once they are older than `grace` on the object store's clock. That is the rule that keeps a
///    writer in flight safe: a writer commits an upload at once, and refuses to commit one older
///    than ``FleetShardWriter/maximumUploadAge`` (half the default grace), so an object young
///    enough to be committed yet is never taken.
///
/// Shards that still hold some live blobs are kept whole: their dead records' bytes stay until
/// compaction exists (`reclaimable_bytes` in the report says how much).
public enum FleetGarbageCollector {
    /// The default grace: twice the longest a writer may take from upload to commit.
    public static let defaultGrace: Duration = .seconds(2 * 3600)

    public static func run(_ store: Store, grace: Duration = defaultGrace, now: Date = Date()) throws -> GCReport {
        guard let fleet = store.fleet else {
            throw StoreError(.invalidArgument, "not a fleet store", path: store.layout.root)
        }
        var report = GCReport(deletedBlobs: 0, rewrittenShards: 0, removedShards: 0, reclaimedBytes: 0, missingShards: [])
        // Listed before the catalog is read: an object committed after the read is newer than
        // the listing, so younger than any grace.
        let objects = try fleet.shards.list()
        let (blobs, emptied) = try PostgresGarbage.collect(fleet.catalog)
        report.deletedBlobs = blobs
        for shard in emptied {
            try fleet.shards.delete(shard.name)
            report.removedShards += 1
            report.reclaimedBytes += shard.bytes
        }
        let known = try PostgresGarbage.shardNames(fleet.catalog)
        let emptiedNames = Set(emptied.map(\.name))
        for object in objects where !known.contains(object.name) && !emptiedNames.contains(object.name) {
            guard let written = object.written, now.timeIntervalSince(written) > grace.totalSeconds else { continue }
            try fleet.shards.delete(object.name)
            report.removedShards += 1
            report.reclaimedBytes += Int(object.size)
        }
        return report
    }
}
