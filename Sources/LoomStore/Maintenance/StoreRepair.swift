import Foundation
internal import GRDB

/// What `loom repair` found and dropped. JSON keys are part of the CLI contract.
public struct RepairReport: Codable, Sendable {
    /// A blob whose bytes are gone or damaged.
    public struct LostBlob: Codable, Sendable, Hashable {
        public var digest: String
        public var shard: String
        public var offset: Int?
        public var reason: String
    }

    /// A real image whose bytes are lost.
    public struct RealImage: Codable, Sendable, Hashable {
        public var dataset: String
        public var split: String
        public var path: String
        public var digest: String
    }

    /// A synthetic image that goes: its own bytes are lost, or it was generated from a prompt
    /// built on a caption of a lost real image (the catalog deletes lineage with its source).
    public struct SyntheticImage: Codable, Sendable, Hashable {
        public var digest: String
        public var dataset: String
        public var strategy: String
        public var prompt: String
        /// True when its own bytes are lost; false when it goes with a lost real image's caption.
        public var lost: Bool
    }

    /// A training checkpoint whose blob is lost (the run itself stays, without it).
    public struct Checkpoint: Codable, Sendable, Hashable {
        public var runID: Int64
        public var epoch: Int
        public var digest: String

        enum CodingKeys: String, CodingKey {
            case epoch, digest
            case runID = "run_id"
        }
    }

    /// Only listed; nothing was changed.
    public var dryRun: Bool
    public var missingShards: [String]
    /// Damaged shards whose intact records were copied into a new shard (then the old file removed).
    public var rewrittenShards: [String]
    /// Damaged shards whose rewrite failed (name: reason); they still fail `loom verify`.
    public var unrewritten: [String] = []
    public var lostBlobs: [LostBlob]
    public var realImages: [RealImage]
    public var syntheticImages: [SyntheticImage]
    /// Captions of lost real images, and prompts built on those captions.
    public var captions: Int
    public var prompts: Int
    /// Pixel-cache entries of lost images, or whose cached pixels are lost.
    public var pixelCache: Int
    /// Training-run sample rows that named a lost blob.
    public var runSamples: Int
    public var checkpoints: [Checkpoint]
    /// The catalog check failed and its indexes were rebuilt (`REINDEX`).
    public var reindexed: Bool
    /// The catalog check after the repair (before it, with `dryRun`).
    public var catalog: String
    /// The store verifies clean (after the repair; with `dryRun`: there was nothing to repair).
    public var ok: Bool

    enum CodingKeys: String, CodingKey {
        case captions, prompts, checkpoints, reindexed, catalog, ok
        case dryRun = "dry_run"
        case missingShards = "missing_shards"
        case rewrittenShards = "rewritten_shards"
        case unrewritten = "unrewritten_shards"
        case lostBlobs = "lost_blobs"
        case realImages = "real_images"
        case syntheticImages = "synthetic_images"
        case pixelCache = "pixel_cache"
        case runSamples = "run_samples"
    }
}

/// Brings a damaged store back to one that verifies, dropping exactly what is lost.
///
/// 1. Scans like `loom verify`: blobs in missing shards, records cut off or failing their checks.
/// 2. Lists every row that depends on a lost blob, through each foreign key to `blobs`:
///    real and synthetic images, captions and prompts built on lost real images (and the
///    synthetic images generated from those prompts), pixel-cache entries, checkpoints and
///    training-run samples.
/// 3. Unless `dryRun`, in one transaction: deletes those rows, the lost blobs and the rows of
///    missing shards. Then rewrites each damaged shard still present (its intact records are
///    copied verbatim, as `loom gc` does, and the damaged file goes) and rebuilds the catalog's
///    indexes if its check failed.
///
/// Blobs that only the deleted rows kept alive (e.g. a deleted synthetic image's intact bytes)
/// stay until `loom gc`.
public enum StoreRepair {
    public static func run(_ store: Store, dryRun: Bool) throws -> RepairReport {
        // A repair holds the writer lock from the scan to the last delete, so nothing it
        // decided on changes under it; a dry run only reads.
        guard dryRun || store.access == .readWrite else {
            throw StoreError(.invalidArgument, "store was opened read-only", path: store.layout.root)
        }
        let writer = dryRun ? nil : try StoreWriter(store: store, options: .init(), tolerateCutShards: true)
        var scan = try Verifier.scan(store, catalogCheck: .full)
        // A failed catalog check can mean an index that misses rows: deciding what to drop and
        // which shard files hold no live record through such an index could delete intact bytes
        // unreported. So the indexes are rebuilt first and the store scanned again.
        var reindexed = false
        if let writer, scan.catalog != "ok" {
            try writer.store.catalog.write { db in try db.execute(sql: "REINDEX") }
            reindexed = true
            scan = try Verifier.scan(store, catalogCheck: .full)
        }
        var report = try plan(store, scan: scan, dryRun: dryRun)
        report.reindexed = reindexed
        guard let writer else {
            report.ok = scan.problems.isEmpty && scan.catalog == "ok"
            return report
        }
        let lost = lostBlobIDs(scan)
        try writer.commit { db, _ in try drop(db, blobIDs: lost, missingShards: scan.missingShards) }
        let damaged = Set(scan.problems.map(\.shardID)).subtracting(scan.missingShards).sorted()
        for id in damaged {
            if id == writer.currentShardID { try writer.startNewShard() }
            do {
                try GarbageCollector.rewrite(shard: id, writer: writer)
                report.rewrittenShards.append(StoreLayout.shardName(id))
            } catch {
                // The drop above has committed: the report of what it dropped must still reach
                // the user, so a shard that cannot be rewritten is named, not thrown.
                report.unrewritten.append("\(StoreLayout.shardName(id)): \(error)")
            }
        }
        let after = try Verifier.run(store, catalogCheck: .full)
        report.catalog = after.catalog
        report.ok = after.ok
        return report
    }

    /// Blobs whose bytes are gone: every blob of a missing shard, every record that failed.
    static func lostBlobIDs(_ scan: Verifier.Scan) -> [Int64] {
        var ids: Set<Int64> = []
        for problem in scan.problems where problem.lostRecord || scan.missingShards.contains(problem.shardID) {
            ids.formUnion(problem.blobIDs)
        }
        return ids.sorted()
    }

    /// The report of what a repair drops, before anything is dropped.
    private static func plan(_ store: Store, scan: Verifier.Scan, dryRun: Bool) throws -> RepairReport {
        let lost = lostBlobIDs(scan)
        var report = RepairReport(
            dryRun: dryRun, missingShards: scan.missingShards.sorted().map(StoreLayout.shardName), rewrittenShards: [],
            lostBlobs: [], realImages: [], syntheticImages: [], captions: 0, prompts: 0, pixelCache: 0, runSamples: 0,
            checkpoints: [], reindexed: false, catalog: scan.catalog, ok: false)
        for problem in scan.problems where problem.lostRecord {
            report.lostBlobs.append(RepairReport.LostBlob(
                digest: problem.report.digest ?? "", shard: problem.report.shard, offset: problem.report.offset,
                reason: problem.report.reason))
        }
        try store.catalog.read { db in
            let lostArguments = lostSetArguments(lost)
            report.lostBlobs += try Row.fetchAll(db, sql: """
                SELECT lower(hex(b.digest)) AS digest, b.shard_id FROM blobs b WHERE b.id IN \(lostSet)
                ORDER BY b.shard_id, b.offset
                """, arguments: lostArguments).compactMap { row in
                let shardID: Int64 = row["shard_id"]
                guard scan.missingShards.contains(shardID) else { return nil }  // already listed with its reason
                return RepairReport.LostBlob(digest: row["digest"], shard: StoreLayout.shardName(shardID), offset: nil,
                                             reason: "shard file is missing")
            }
            report.realImages = try Row.fetchAll(db, sql: """
                SELECT d.name AS dataset, s.name AS split, r.path, lower(hex(b.digest)) AS digest
                FROM real_images r
                JOIN blobs b ON b.id = r.blob_id JOIN splits s ON s.id = r.split_id JOIN datasets d ON d.id = s.dataset_id
                WHERE r.blob_id IN \(lostSet)
                ORDER BY d.name, s.name, r.path
                """, arguments: lostArguments).map { RepairReport.RealImage(dataset: $0["dataset"], split: $0["split"], path: $0["path"], digest: $0["digest"]) }
            let lostCaptions = """
                SELECT c.id FROM captions c JOIN real_images r ON r.id = c.real_image_id WHERE r.blob_id IN \(lostSet)
                """
            report.captions = try Int.fetchOne(db, sql: "SELECT count(*) FROM (\(lostCaptions))", arguments: lostArguments) ?? 0
            report.prompts = try Int.fetchOne(db, sql: "SELECT count(*) FROM prompts WHERE caption_id IN (\(lostCaptions))", arguments: lostArguments) ?? 0
            report.syntheticImages = try Row.fetchAll(db, sql: """
                SELECT lower(hex(b.digest)) AS digest, d.name AS dataset, p.strategy, p.text AS prompt,
                       s.blob_id IN \(lostSet) AS lost
                FROM synthetic_images s JOIN prompts p ON p.id = s.prompt_id JOIN datasets d ON d.id = p.dataset_id
                JOIN blobs b ON b.id = s.blob_id
                WHERE s.blob_id IN \(lostSet) OR p.caption_id IN (\(lostCaptions))
                ORDER BY s.id
                """, arguments: lostArguments).map {
                RepairReport.SyntheticImage(digest: $0["digest"], dataset: $0["dataset"], strategy: $0["strategy"],
                                            prompt: $0["prompt"], lost: $0["lost"])
            }
            report.pixelCache = try Int.fetchOne(db, sql: """
                SELECT count(*) FROM pixel_cache
                WHERE blob_id IN \(lostSet) OR cache_blob_id IN \(lostSet)
                """, arguments: lostArguments) ?? 0
            report.runSamples = try Int.fetchOne(db, sql: "SELECT count(*) FROM run_samples WHERE blob_id IN \(lostSet)", arguments: lostArguments) ?? 0
            report.checkpoints = try Row.fetchAll(db, sql: """
                SELECT k.run_id, k.epoch, lower(hex(b.digest)) AS digest FROM checkpoints k
                JOIN blobs b ON b.id = k.blob_id WHERE k.blob_id IN \(lostSet) ORDER BY k.run_id, k.epoch
                """, arguments: lostArguments).map { RepairReport.Checkpoint(runID: $0["run_id"], epoch: $0["epoch"], digest: $0["digest"]) }
        }
        return report
    }

    /// Deletes every row that points at a lost blob, the blobs, and the rows of missing shards.
    private static func drop(_ db: Database, blobIDs lost: [Int64], missingShards: Set<Int64>) throws {
        let arguments = lostSetArguments(lost)
        let inLost = "IN \(lostSet)"
        try db.execute(sql: "DELETE FROM checkpoints WHERE blob_id \(inLost)", arguments: arguments)
        try db.execute(sql: "DELETE FROM pixel_cache WHERE blob_id \(inLost) OR cache_blob_id \(inLost)", arguments: arguments)
        try db.execute(sql: "DELETE FROM run_samples WHERE blob_id \(inLost)", arguments: arguments)
        try db.execute(sql: "DELETE FROM synthetic_images WHERE blob_id \(inLost)", arguments: arguments)
        // Captions of these images, prompts built on the captions and the synthetic images
        // generated from those prompts go with them (ON DELETE CASCADE).
        try db.execute(sql: "DELETE FROM real_images WHERE blob_id \(inLost)", arguments: arguments)
        try db.execute(sql: "DELETE FROM blobs WHERE id \(inLost)", arguments: arguments)
        for id in missingShards {
            let left = try Int.fetchOne(db, sql: "SELECT count(*) FROM blobs WHERE shard_id = ?", arguments: [id]) ?? 0
            guard left == 0 else {
                throw StoreError(.corrupt, "repair: \(left) blobs still point into missing shard \(StoreLayout.shardName(id))")
            }
            try db.execute(sql: "DELETE FROM shards WHERE id = ?", arguments: [id])
        }
    }

    /// The lost blob ids as one bound JSON array (any number of them; readers may not create
    /// temporary tables), used through ``lostSet``.
    private static let lostSet = "(SELECT value FROM json_each(:lost))"

    private static func lostSetArguments(_ ids: [Int64]) -> StatementArguments {
        ["lost": "[" + ids.map(String.init).joined(separator: ",") + "]"]
    }
}
