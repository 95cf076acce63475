import GRDB
import LoomStore

/// The samples of a selection, as flat index arrays: everything the loader needs per sample
/// without touching the catalog again (about 100 bytes a sample: 1.3M ImageNet images ~ 130 MB).
public struct SampleTable: Sendable {
    public var locations: [BlobLocation] = []
    /// The catalog id of each sample's blob (what a training run records as its inputs).
    public var blobIDs: [Int64] = []
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

    /// Loads the selection in catalog order (real: split, path; synthetic: generation order),
    /// which is stable across runs.
    /// - Parameter cacheShortSide: look up pixel-cache entries at this short side.
    public static func load(_ store: Store, selection: Selection, cacheShortSide: Int? = nil) throws -> SampleTable {
        var table = SampleTable()
        try store.catalog.read { db in
            for component in selection.components {
                guard let datasetID = try DatasetCatalog.datasetID(db, name: component.dataset) else {
                    throw LoaderError("no dataset named \"\(component.dataset)\"", code: .notFound)
                }
                if table.classNames.isEmpty {
                    table.classNames = try String.fetchAll(db, sql: "SELECT wnid FROM classes WHERE dataset_id = ? ORDER BY label",
                                                           arguments: [datasetID])
                }
                let classFilter = try component.classes.map { try classIDs($0, dataset: component.dataset, datasetID: datasetID, db) }
                let start = table.count
                let rows: RowCursor
                switch component.source {
                case .real(let split):
                    guard let splitID = try Int64.fetchOne(db, sql: "SELECT id FROM splits WHERE dataset_id = ? AND name = ?",
                                                           arguments: [datasetID, split]) else {
                        throw LoaderError("dataset \"\(component.dataset)\" has no split \"\(split)\"", code: .notFound)
                    }
                    rows = try Row.fetchCursor(db, sql: """
                        SELECT r.blob_id, r.class_id, \(sampleColumns)
                        FROM real_images r
                        \(sampleJoins(classColumn: "r.class_id"))
                        WHERE r.split_id = ?
                        ORDER BY r.path
                        """, arguments: [cacheShortSide ?? -1, splitID])
                case .synthetic(let strategy):
                    rows = try Row.fetchCursor(db, sql: """
                        SELECT r.blob_id, p.class_id, \(sampleColumns)
                        FROM synthetic_images r
                        JOIN prompts p ON p.id = r.prompt_id
                        \(sampleJoins(classColumn: "p.class_id"))
                        WHERE p.dataset_id = ? AND p.strategy = ?
                        ORDER BY r.id
                        """, arguments: [cacheShortSide ?? -1, datasetID, strategy])
                }
                while let row = try rows.next() {
                    if let filter = classFilter, !filter.contains(row["class_id"]) { continue }
                    try table.append(row)
                }
                guard table.count > start else {
                    switch component.source {
                    case .real:
                        throw LoaderError("selection \(component.name) has no images")
                    case .synthetic(let strategy):
                        throw LoaderError("""
                            selection \(component.name) has no images: generate them first \
                            (loom prompts --dataset \(component.dataset) --strategy \(strategy), then loom generate)
                            """)
                    }
                }
                table.components.append((start..<table.count, component.weight))
            }
        }
        return table
    }

    /// The blob, label and pixel-cache columns every sample query selects (`r` is the image row).
    private static let sampleColumns = """
        b.digest, b.shard_id, b.offset, b.stored_size, b.raw_size, b.codec, c.label,
        cb.digest AS c_digest, cb.shard_id AS c_shard_id, cb.offset AS c_offset, cb.stored_size AS c_stored_size,
        cb.raw_size AS c_raw_size, cb.codec AS c_codec, pc.width AS c_width, pc.height AS c_height
        """
    private static func sampleJoins(classColumn: String) -> String {
        """
        JOIN blobs b ON b.id = r.blob_id
        JOIN classes c ON c.id = \(classColumn)
        LEFT JOIN pixel_cache pc ON pc.blob_id = r.blob_id AND pc.short_side = ?
        LEFT JOIN blobs cb ON cb.id = pc.cache_blob_id
        """
    }

    private static func classIDs(_ names: [String], dataset: String, datasetID: Int64, _ db: Database) throws -> [Int64] {
        try names.map { name in
            guard let id = try Int64.fetchOne(db, sql: """
                SELECT id FROM classes WHERE dataset_id = ? AND (wnid = ? OR name = ? OR prompt_name = ?)
                """, arguments: [datasetID, name, name, name]) else {
                throw LoaderError("dataset \"\(dataset)\" has no class \"\(name)\"", code: .notFound)
            }
            return id
        }
    }

    private mutating func append(_ row: Row) throws {
        blobIDs.append(row["blob_id"])
        locations.append(try BlobLocation(row: row))
        labels.append(Int32(row["label"] as Int))
        if let digest = row["c_digest"] as Digest?, let codec = ShardFormat.Codec(name: row["c_codec"]) {
            cached.append(CachedPixels(
                location: BlobLocation(digest: digest, shardID: row["c_shard_id"], offset: row["c_offset"],
                                       storedSize: row["c_stored_size"], rawSize: row["c_raw_size"], codec: codec),
                width: row["c_width"], height: row["c_height"]))
        } else {
            cached.append(nil)
        }
    }

    /// How many samples have a pixel-cache image.
    public var cachedCount: Int { cached.reduce(0) { $0 + ($1 == nil ? 0 : 1) } }
}
