internal import NIOCore
internal import PostgresNIO

/// `loom stats` on a fleet store: the same report as the embedded one, from one snapshot. Shard
/// bytes are the objects' sealed lengths as the catalog records them (they live in the object
/// store, not on this disk), and no shard counts as missing: fleet shards are only ever
/// referenced after their upload finished.
enum PostgresStats {
    static func collect(_ catalog: PostgresCatalog, root: String) throws -> StoreStats {
        try catalog.connections.transaction(PostgresCatalog.snapshotBegin) { session in
            var datasets: [StoreStats.DatasetStats] = []
            for row in try session.rows("""
                SELECT d.name AS dataset, s.name AS split, c.label, c.wnid, c.name AS class_name, count(r.id)::bigint AS images
                FROM datasets d
                JOIN splits s ON s.dataset_id = d.id
                JOIN classes c ON c.dataset_id = d.id
                LEFT JOIN real_images r ON r.split_id = s.id AND r.class_id = c.id
                GROUP BY d.id, s.id, c.id
                ORDER BY d.name COLLATE "C", s.name COLLATE "C", c.label
                """) {
                let dataset: String = try row.value("dataset"), split: String = try row.value("split")
                let count = StoreStats.ClassCount(label: try row.value("label"), wnid: try row.value("wnid"),
                                                  name: try row.value("class_name"), images: try row.value("images"))
                if datasets.last?.name != dataset {
                    datasets.append(StoreStats.DatasetStats(name: dataset, images: 0, classes: 0, splits: []))
                }
                let d = datasets.count - 1
                if datasets[d].splits.last?.name != split {
                    datasets[d].splits.append(StoreStats.SplitStats(name: split, images: 0, classes: []))
                }
                let s = datasets[d].splits.count - 1
                datasets[d].splits[s].classes.append(count)
                datasets[d].splits[s].images += count.images
                datasets[d].images += count.images
            }
            for d in datasets.indices { datasets[d].classes = datasets[d].splits.first?.classes.count ?? 0 }
            let blobs = try session.rows("""
                SELECT count(*)::bigint AS n, coalesce(sum(raw_size), 0)::bigint AS raw,
                       coalesce(sum(stored_size + \(unescaped: String(ShardFormat.recordHeaderSize))), 0)::bigint AS stored,
                       count(*) FILTER (WHERE codec = 'lz4')::bigint AS lz4
                FROM blobs
                """)[0]
            let shards = try session.rows("""
                SELECT count(*)::bigint AS n, count(sealed_bytes)::bigint AS sealed,
                       coalesce(sum(coalesce(sealed_bytes, committed_bytes)), 0)::bigint AS bytes
                FROM shards
                """)[0]
            return StoreStats(
                store: root, datasets: datasets,
                blobs: StoreStats.BlobStats(count: try blobs.value("n"), originalBytes: try blobs.value("raw"),
                                            storedBytes: try blobs.value("stored"), lz4: try blobs.value("lz4"), missing: 0, missingBytes: 0),
                shards: StoreStats.ShardStats(count: try shards.value("n"), sealed: try shards.value("sealed"),
                                              bytes: try shards.value("bytes"), missing: 0))
        }
    }
}
