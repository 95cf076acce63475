import GRDB
import LoomStore

/// The samples of a selection, as flat index arrays: everything the loader needs per sample
/// without touching the catalog again (about 100 bytes a sample: 1.3M ImageNet images ~ 130 MB).
public struct SampleTable: Sendable {
    public var locations: [BlobLocation] = []
    public var labels: [Int32] = []
    /// The pixel-cache image for each sample at the loader's short side, when built.
    public var cached: [CachedPixels?] = []
    /// Per component of the selection: the range of samples it contributed, and its weight.
    public var components: [(range: Range<Int>, weight: Double)] = []
    public var classNames: [String] = []

    public var count: Int { locations.count }

    public struct CachedPixels: Sendable, Hashable {
        public var location: BlobLocation
        public var width: Int
        public var height: Int
    }

    /// Loads the selection in catalog order (split, path), which is stable across runs.
    /// - Parameter cacheShortSide: look up pixel-cache entries at this short side.
    public static func load(_ store: Store, selection: Selection, cacheShortSide: Int? = nil) throws -> SampleTable {
        var table = SampleTable()
        try store.catalog.read { db in
            for component in selection.components {
                guard let datasetID = try DatasetCatalog.datasetID(db, name: component.dataset) else {
                    throw LoaderError("no dataset named \"\(component.dataset)\"")
                }
                guard let splitID = try Int64.fetchOne(db, sql: "SELECT id FROM splits WHERE dataset_id = ? AND name = ?",
                                                       arguments: [datasetID, component.split]) else {
                    throw LoaderError("dataset \"\(component.dataset)\" has no split \"\(component.split)\"")
                }
                if table.classNames.isEmpty {
                    table.classNames = try String.fetchAll(db, sql: "SELECT wnid FROM classes WHERE dataset_id = ? ORDER BY label",
                                                           arguments: [datasetID])
                }
                var classFilter: [Int64]? = nil
                if let classes = component.classes {
                    classFilter = try classes.map { name in
                        guard let id = try Int64.fetchOne(db, sql: """
                            SELECT id FROM classes WHERE dataset_id = ? AND (wnid = ? OR name = ? OR prompt_name = ?)
                            """, arguments: [datasetID, name, name, name]) else {
                            throw LoaderError("dataset \"\(component.dataset)\" has no class \"\(name)\"")
                        }
                        return id
                    }
                }
                let start = table.count
                let rows = try Row.fetchCursor(db, sql: """
                    SELECT b.digest, b.shard_id, b.offset, b.stored_size, b.raw_size, b.codec, c.label, r.class_id,
                           cb.digest AS c_digest, cb.shard_id AS c_shard_id, cb.offset AS c_offset, cb.stored_size AS c_stored_size,
                           cb.raw_size AS c_raw_size, cb.codec AS c_codec, pc.width AS c_width, pc.height AS c_height
                    FROM real_images r
                    JOIN blobs b ON b.id = r.blob_id
                    JOIN classes c ON c.id = r.class_id
                    LEFT JOIN pixel_cache pc ON pc.blob_id = r.blob_id AND pc.short_side = ?
                    LEFT JOIN blobs cb ON cb.id = pc.cache_blob_id
                    WHERE r.split_id = ?
                    ORDER BY r.path
                    """, arguments: [cacheShortSide ?? -1, splitID])
                while let row = try rows.next() {
                    if let filter = classFilter, !filter.contains(row["class_id"]) { continue }
                    table.locations.append(try BlobLocation(row: row))
                    table.labels.append(Int32(row["label"] as Int))
                    if let digest = row["c_digest"] as Digest?, let codec = ShardFormat.Codec(name: row["c_codec"]) {
                        table.cached.append(CachedPixels(
                            location: BlobLocation(digest: digest, shardID: row["c_shard_id"], offset: row["c_offset"],
                                                   storedSize: row["c_stored_size"], rawSize: row["c_raw_size"], codec: codec),
                            width: row["c_width"], height: row["c_height"]))
                    } else {
                        table.cached.append(nil)
                    }
                }
                guard table.count > start else {
                    throw LoaderError("selection \(component.dataset):\(component.split) has no images")
                }
                table.components.append((start..<table.count, component.weight))
            }
        }
        return table
    }

    /// How many samples have a pixel-cache image.
    public var cachedCount: Int { cached.reduce(0) { $0 + ($1 == nil ? 0 : 1) } }
}
