internal import GRDB

/// A class of a dataset as the catalog holds it.
public struct ClassRecord: Codable, Hashable, Sendable {
    public var id: Int64
    public var label: Int
    public var wnid: String
    public var name: String
    public var promptName: String
}

/// What the catalog remembers of an ingested file, to skip it when it has not changed.
public struct IngestedFile: Sendable {
    public var id: Int64
    public var size: Int
    public var mtimeNanoseconds: Int64
    public var digest: Digest
    /// Its class: a file whose label changed (a new labels file or column) is not unchanged.
    public var wnid: String
}

/// A real image row to insert.
public struct RealImageRow: Sendable {
    public var splitID: Int64
    public var classID: Int64
    public var blobID: Int64
    public var path: String
    public var name: String
    public var width: Int
    public var height: Int
    public var format: String
    public var colorSpace: String
    public var fileSize: Int
    public var mtimeNanoseconds: Int64

    public init(splitID: Int64, classID: Int64, blobID: Int64, path: String, name: String, width: Int, height: Int,
                format: String, colorSpace: String, fileSize: Int, mtimeNanoseconds: Int64) {
        self.splitID = splitID
        self.classID = classID
        self.blobID = blobID
        self.path = path
        self.name = name
        self.width = width
        self.height = height
        self.format = format
        self.colorSpace = colorSpace
        self.fileSize = fileSize
        self.mtimeNanoseconds = mtimeNanoseconds
    }
}

/// Dataset, split, class and real-image statements. Plain SQL, portable where that is free.
public enum DatasetCatalog {
    static func datasetID(_ db: Database, name: String) throws -> Int64? {
        try Int64.fetchOne(db, sql: "SELECT id FROM datasets WHERE name = ?", arguments: [name])
    }

    static func ensureDataset(_ db: Database, name: String) throws -> Int64 {
        if let id = try datasetID(db, name: name) { return id }
        try db.execute(sql: "INSERT INTO datasets (name) VALUES (?)", arguments: [name])
        return db.lastInsertedRowID
    }

    static func splitID(_ db: Database, datasetID: Int64, name: String) throws -> Int64? {
        try Int64.fetchOne(db, sql: "SELECT id FROM splits WHERE dataset_id = ? AND name = ?", arguments: [datasetID, name])
    }

    static func ensureSplit(_ db: Database, datasetID: Int64, name: String) throws -> Int64 {
        if let id = try splitID(db, datasetID: datasetID, name: name) { return id }
        try db.execute(sql: "INSERT INTO splits (dataset_id, name) VALUES (?, ?)", arguments: [datasetID, name])
        return db.lastInsertedRowID
    }

    static func classes(_ db: Database, datasetID: Int64) throws -> [ClassRecord] {
        try Row.fetchAll(db, sql: "SELECT id, label, wnid, name, prompt_name FROM classes WHERE dataset_id = ? ORDER BY label",
                         arguments: [datasetID]).map {
            ClassRecord(id: $0["id"], label: $0["label"], wnid: $0["wnid"], name: $0["name"], promptName: $0["prompt_name"])
        }
    }

    /// Adds the classes not yet known, labelled after the existing ones in byte order of `wnid`
    /// (so a dataset ingested in one go gets torchvision's labels), and applies `names`
    /// (`wnid -> (display name, prompt name)`) to new and existing classes alike. Keyed by
    /// ``ExactName``: folders that differ only in Unicode normalization are different classes.
    static func ensureClasses(
        _ db: Database, datasetID: Int64, wnids: some Sequence<ExactName>, names: [ExactName: (name: String, promptName: String)]
    ) throws -> [ExactName: ClassRecord] {
        var byWnid: [ExactName: ClassRecord] = [:]
        for record in try classes(db, datasetID: datasetID) { byWnid[ExactName(record.wnid)] = record }
        var nextLabel = (byWnid.values.map(\.label).max() ?? -1) + 1
        for wnid in Set(wnids).sorted() where byWnid[wnid] == nil {
            let named = names[wnid] ?? (wnid.string, wnid.string)
            try db.execute(sql: "INSERT INTO classes (dataset_id, label, wnid, name, prompt_name) VALUES (?, ?, ?, ?, ?)",
                           arguments: [datasetID, nextLabel, wnid.string, named.name, named.promptName])
            byWnid[wnid] = ClassRecord(id: db.lastInsertedRowID, label: nextLabel, wnid: wnid.string, name: named.name,
                                       promptName: named.promptName)
            nextLabel += 1
        }
        for (wnid, named) in names {
            guard var record = byWnid[wnid], record.name != named.name || record.promptName != named.promptName else { continue }
            try db.execute(sql: "UPDATE classes SET name = ?, prompt_name = ? WHERE id = ?", arguments: [named.name, named.promptName, record.id])
            record.name = named.name
            record.promptName = named.promptName
            byWnid[wnid] = record
        }
        return byWnid
    }

    /// Files already ingested into a split of a dataset, by path; empty when neither exists yet.
    /// Keyed by ``ExactName``: two paths that differ only in Unicode normalization are two files.
    static func ingestedFiles(_ db: Database, dataset: String, split: String) throws -> [ExactName: IngestedFile] {
        guard let datasetID = try datasetID(db, name: dataset), let splitID = try splitID(db, datasetID: datasetID, name: split) else {
            return [:]
        }
        var files: [ExactName: IngestedFile] = [:]
        let rows = try Row.fetchCursor(db, sql: """
            SELECT r.id, r.path, r.file_size, r.file_mtime_ns, b.digest, c.wnid
            FROM real_images r JOIN blobs b ON b.id = r.blob_id JOIN classes c ON c.id = r.class_id WHERE r.split_id = ?
            """, arguments: [splitID])
        while let row = try rows.next() {
            files[ExactName(row["path"])] = IngestedFile(
                id: row["id"], size: row["file_size"], mtimeNanoseconds: row["file_mtime_ns"], digest: row["digest"], wnid: row["wnid"])
        }
        return files
    }

    /// Inserts a real image, or repoints the row at a path whose content changed.
    static func upsertRealImage(_ db: Database, _ image: RealImageRow) throws {
        let statement = try db.cachedStatement(sql: """
            INSERT INTO real_images (split_id, class_id, blob_id, path, name, width, height, format, color_space, file_size, file_mtime_ns)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
            ON CONFLICT (split_id, path) DO UPDATE SET
                class_id = excluded.class_id, blob_id = excluded.blob_id, width = excluded.width, height = excluded.height,
                format = excluded.format, color_space = excluded.color_space, file_size = excluded.file_size,
                file_mtime_ns = excluded.file_mtime_ns
            """)
        try statement.execute(arguments: [
            image.splitID, image.classID, image.blobID, image.path, image.name, image.width, image.height,
            image.format, image.colorSpace, image.fileSize, image.mtimeNanoseconds,
        ])
    }

    /// Records that an unchanged file's modification time moved (content identical).
    static func touchRealImage(_ db: Database, id: Int64, mtimeNanoseconds: Int64) throws {
        try db.cachedStatement(sql: "UPDATE real_images SET file_mtime_ns = ? WHERE id = ?").execute(arguments: [mtimeNanoseconds, id])
    }
}

extension DatasetCatalog {
    /// Deletes a dataset (or one split of it) and its image rows; the bytes stay until `loom gc`.
    /// - Returns: the number of real-image rows deleted.
    static func delete(_ db: Database, dataset: String, split: String?) throws -> Int {
        guard let datasetID = try datasetID(db, name: dataset) else {
            throw StoreError(.notFound, "no dataset named \"\(dataset)\"")
        }
        let images: Int
        if let split {
            guard let splitID = try splitID(db, datasetID: datasetID, name: split) else {
                throw StoreError(.notFound, "dataset \"\(dataset)\" has no split \"\(split)\"")
            }
            images = try Int.fetchOne(db, sql: "SELECT count(*) FROM real_images WHERE split_id = ?", arguments: [splitID]) ?? 0
            try db.execute(sql: "DELETE FROM splits WHERE id = ?", arguments: [splitID])
        } else {
            images = try Int.fetchOne(db, sql: """
                SELECT count(*) FROM real_images r JOIN splits s ON s.id = r.split_id WHERE s.dataset_id = ?
                """, arguments: [datasetID]) ?? 0
            try db.execute(sql: "DELETE FROM datasets WHERE id = ?", arguments: [datasetID])
        }
        return images
    }
}
