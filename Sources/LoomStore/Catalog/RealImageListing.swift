import Foundation
internal import GRDB

/// One real image as `loom ls` and `loom export` see it. JSON keys are part of the CLI contract.
public struct RealImageEntry: Codable, Sendable {
    public var digest: String
    public var dataset: String
    public var split: String
    public var `class`: String
    public var label: Int
    public var path: String
    /// Path below the class folder.
    public var name: String
    public var width: Int
    public var height: Int
    public var format: String
    public var bytes: Int
}

public enum RealImageListing {
    /// Real images of a dataset, optionally one split and one class (wnid or display name), in
    /// (split, path) order. Streams: `body` sees one entry at a time.
    public static func forEach(
        _ store: Store, dataset: String, split: String? = nil, className: String? = nil,
        _ body: (RealImageEntry) throws -> Void
    ) throws {
        if store.fleet != nil {
            let filter = RealImageFilter(dataset: dataset, split: split, className: className)
            return try store.read { try $0.datasets.forEachRealImage(filter, body) }
        }
        try store.catalog.read { db in
            guard try DatasetCatalog.datasetID(db, name: dataset) != nil else {
                let known = try String.fetchAll(db, sql: "SELECT name FROM datasets ORDER BY name")
                throw StoreError(.notFound, "no dataset named \"\(dataset)\" (datasets: \(known.isEmpty ? "none" : known.joined(separator: ", ")))")
            }
            if let split, try Int.fetchOne(db, sql: """
                SELECT count(*) FROM splits s JOIN datasets d ON d.id = s.dataset_id WHERE d.name = ? AND s.name = ?
                """, arguments: [dataset, split]) == 0 {
                throw StoreError(.notFound, "dataset \"\(dataset)\" has no split \"\(split)\"")
            }
            let (sql, arguments) = query(dataset: dataset, split: split, className: className)
            let rows = try Row.fetchCursor(db, sql: sql, arguments: arguments)
            while let row = try rows.next() { try body(entry(row)) }
        }
    }

    /// One page of real images in (dataset, split, path) order, every filter optional: the
    /// service's `/v1/images`. Reads `limit` entries from `offset` on.
    static func page(_ db: Database, dataset: String?, split: String?, className: String?,
                            offset: Int, limit: Int) throws -> [RealImageEntry] {
        var (sql, arguments) = query(dataset: dataset, split: split, className: className)
        sql += " LIMIT ? OFFSET ?"
        arguments += [limit, offset]
        return try Row.fetchAll(db, sql: sql, arguments: arguments).map(entry)
    }

    /// The listing's SELECT with only the filters given (so SQLite plans each shape on its own).
    static func query(dataset: String?, split: String?, className: String?) -> (String, StatementArguments) {
        var conditions: [String] = []
        var arguments: StatementArguments = []
        if let dataset {
            conditions.append("d.name = ?")
            arguments += [dataset]
        }
        if let split {
            conditions.append("s.name = ?")
            arguments += [split]
        }
        if let className {
            conditions.append("(c.wnid = ? OR c.name = ? OR c.prompt_name = ?)")
            arguments += [className, className, className]
        }
        let sql = """
            SELECT lower(hex(b.digest)) AS digest, d.name AS dataset, s.name AS split, c.wnid, c.label, r.path, r.name,
                   r.width, r.height, r.format, b.raw_size
            FROM real_images r
            JOIN splits s ON s.id = r.split_id
            JOIN datasets d ON d.id = s.dataset_id
            JOIN classes c ON c.id = r.class_id
            JOIN blobs b ON b.id = r.blob_id
            \(conditions.isEmpty ? "" : "WHERE " + conditions.joined(separator: " AND "))
            ORDER BY d.name, s.name, r.path
            """
        return (sql, arguments)
    }

    static func entry(_ row: Row) -> RealImageEntry {
        RealImageEntry(
            digest: row["digest"], dataset: row["dataset"], split: row["split"], class: row["wnid"], label: row["label"],
            path: row["path"], name: row["name"], width: row["width"], height: row["height"], format: row["format"],
            bytes: row["raw_size"])
    }

    /// Resolves a digest given in full or as a unique hex prefix (at least 4 digits).
    public static func resolveDigest(_ store: Store, _ text: String) throws -> Digest {
        if let full = Digest(hex: text.lowercased()) { return full }
        if store.fleet != nil { return try store.read { try $0.blobs.resolve(text) } }
        return try store.catalog.read { db in try resolveDigest(db, text) }
    }

    static func resolveDigest(_ db: Database, _ text: String) throws -> Digest {
        let hex = text.lowercased()
        if let full = Digest(hex: hex) { return full }
        guard hex.count >= 4, hex.count < 64, Digest.decodeHex(hex.count % 2 == 0 ? hex : hex + "0") != nil else {
            throw StoreError(.invalidArgument, "\"\(text)\" is not a digest or a hex prefix of at least 4 digits")
        }
        // Range scan on the digest index: [prefix00.., prefixFF..].
        let low = Digest.decodeHex(hex + String(repeating: "0", count: 64 - hex.count))!
        let high = Digest.decodeHex(hex + String(repeating: "f", count: 64 - hex.count))!
        let matches = try Digest.fetchAll(db, sql: "SELECT digest FROM blobs WHERE digest BETWEEN ? AND ? LIMIT 2",
                                          arguments: [Data(low), Data(high)])
        switch matches.count {
        case 0: throw StoreError(.notFound, "no blob with digest prefix \(hex)")
        case 1: return matches[0]
        default: throw StoreError(.ambiguous, "digest prefix \(hex) matches several blobs; give more digits")
        }
    }
}
