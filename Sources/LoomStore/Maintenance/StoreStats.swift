internal import GRDB

/// Counts for `loom stats`. JSON keys are part of the CLI contract.
public struct StoreStats: Codable, Sendable {
    public struct ClassCount: Codable, Sendable {
        public var label: Int
        public var wnid: String
        public var name: String
        public var images: Int
    }

    public struct SplitStats: Codable, Sendable {
        public var name: String
        public var images: Int
        public var classes: [ClassCount]
    }

    public struct DatasetStats: Codable, Sendable {
        public var name: String
        public var images: Int
        public var classes: Int
        public var splits: [SplitStats]
    }

    public struct BlobStats: Codable, Sendable {
        public var count: Int
        /// Sum of the original sizes.
        public var originalBytes: Int
        /// Sum of the record sizes in shards (payload + 64-byte header).
        public var storedBytes: Int
        public var lz4: Int
        /// Blobs whose shard file is gone (`loom repair` drops them), and their record bytes.
        public var missing: Int
        public var missingBytes: Int

        enum CodingKeys: String, CodingKey {
            case count, lz4, missing
            case originalBytes = "original_bytes"
            case storedBytes = "stored_bytes"
            case missingBytes = "missing_bytes"
        }
    }

    public struct ShardStats: Codable, Sendable {
        public var count: Int
        public var sealed: Int
        /// Bytes the shard files present take on disk (their committed or sealed length, or
        /// less where a file was cut short).
        public var bytes: Int
        /// Shards the catalog lists whose file is gone.
        public var missing: Int
    }

    public var store: String
    public var datasets: [DatasetStats]
    public var blobs: BlobStats
    public var shards: ShardStats

    public static func collect(_ store: Store) throws -> StoreStats {
        if let fleet = store.fleet { return try PostgresStats.collect(fleet.catalog, root: store.layout.root) }
        let missing = try store.missingShards()
        let missingIDs = Set(missing.map(\.id))
        var stats = try store.catalog.read { db in
            var datasets: [DatasetStats] = []
            let rows = try Row.fetchAll(db, sql: """
                SELECT d.name AS dataset, s.name AS split, c.label, c.wnid, c.name AS class_name, count(r.id) AS images
                FROM datasets d
                JOIN splits s ON s.dataset_id = d.id
                JOIN classes c ON c.dataset_id = d.id
                LEFT JOIN real_images r ON r.split_id = s.id AND r.class_id = c.id
                GROUP BY d.id, s.id, c.id
                ORDER BY d.name, s.name, c.label
                """)
            for row in rows {
                let dataset: String = row["dataset"], split: String = row["split"]
                let count = ClassCount(label: row["label"], wnid: row["wnid"], name: row["class_name"], images: row["images"])
                if datasets.last?.name != dataset {
                    datasets.append(DatasetStats(name: dataset, images: 0, classes: 0, splits: []))
                }
                if datasets[datasets.count - 1].splits.last?.name != split {
                    datasets[datasets.count - 1].splits.append(SplitStats(name: split, images: 0, classes: []))
                }
                let d = datasets.count - 1, s = datasets[d].splits.count - 1
                datasets[d].splits[s].classes.append(count)
                datasets[d].splits[s].images += count.images
                datasets[d].images += count.images
            }
            for d in datasets.indices {
                datasets[d].classes = datasets[d].splits.first?.classes.count ?? 0
            }
            let blobRow = try Row.fetchOne(db, sql: """
                SELECT count(*) AS n, coalesce(sum(raw_size), 0) AS raw, coalesce(sum(stored_size + \(ShardFormat.recordHeaderSize)), 0) AS stored,
                       coalesce(sum(codec = 'lz4'), 0) AS lz4
                FROM blobs
                """)!
            let shardRows = try Row.fetchAll(db, sql: "SELECT id, coalesce(sealed_bytes, committed_bytes) AS bytes, sealed_bytes IS NOT NULL AS sealed FROM shards")
            var shards = ShardStats(count: shardRows.count, sealed: 0, bytes: 0, missing: missing.count)
            for row in shardRows {
                let id: Int64 = row["id"], length: Int = row["bytes"]
                if row["sealed"] as Bool { shards.sealed += 1 }
                guard !missingIDs.contains(id) else { continue }
                shards.bytes += min(length, (try? store.blobs.shardFile(id).size()) ?? length)
            }
            return StoreStats(
                store: store.layout.root, datasets: datasets,
                blobs: BlobStats(count: blobRow["n"], originalBytes: blobRow["raw"], storedBytes: blobRow["stored"], lz4: blobRow["lz4"],
                                 missing: 0, missingBytes: 0),
                shards: shards)
        }
        stats.blobs.missing = missing.reduce(0) { $0 + $1.blobs }
        stats.blobs.missingBytes = missing.reduce(0) { $0 + $1.storedBytes }
        return stats
    }
}
