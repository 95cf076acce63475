internal import GRDB

protocol SQLiteDatasetQueries: DatasetReading, SQLiteRepository {}

extension SQLiteDatasetQueries {
    func dataset(named name: String) throws -> DatasetRecord? {
        try DatasetCatalog.datasetID(db, name: name).map { DatasetRecord(id: $0, name: name) }
    }

    func requireDataset(named name: String) throws -> DatasetRecord {
        if let dataset = try dataset(named: name) { return dataset }
        let known = try datasetNames()
        throw StoreError(.notFound, "no dataset named \"\(name)\" (datasets: \(known.isEmpty ? "none" : known.joined(separator: ", ")))")
    }

    func datasetNames() throws -> [String] { try String.fetchAll(db, sql: "SELECT name FROM datasets ORDER BY name") }

    func splitNames(of datasetID: Int64) throws -> [String] {
        try String.fetchAll(db, sql: "SELECT name FROM splits WHERE dataset_id = ? ORDER BY name", arguments: [datasetID])
    }

    func split(named name: String, of datasetID: Int64) throws -> SplitRecord? {
        try DatasetCatalog.splitID(db, datasetID: datasetID, name: name).map { SplitRecord(id: $0, datasetID: datasetID, name: name) }
    }

    func requireSplit(named name: String, of dataset: DatasetRecord) throws -> SplitRecord {
        guard let split = try split(named: name, of: dataset.id) else {
            throw StoreError(.notFound, "dataset \"\(dataset.name)\" has no split \"\(name)\"")
        }
        return split
    }

    func classes(of datasetID: Int64) throws -> [ClassRecord] { try DatasetCatalog.classes(db, datasetID: datasetID) }

    func realImageCount(of splitID: Int64) throws -> Int {
        try Int.fetchOne(db, sql: "SELECT count(*) FROM real_images WHERE split_id = ?", arguments: [splitID]) ?? 0
    }

    func classID(matching name: String, in datasetID: Int64) throws -> Int64? {
        try Int64.fetchOne(db.cachedStatement(sql: """
            SELECT id FROM classes WHERE dataset_id = ? AND (wnid = ? OR name = ? OR prompt_name = ?)
            """), arguments: [datasetID, name, name, name])
    }

    func derivedCounts() throws -> [String: DerivedCounts] {
        var counts: [String: DerivedCounts] = [:]
        for row in try Row.fetchAll(db, sql: """
            SELECT d.name,
                   (SELECT count(*) FROM captions c JOIN real_images r ON r.id = c.real_image_id
                      JOIN splits s ON s.id = r.split_id WHERE s.dataset_id = d.id) AS captions,
                   (SELECT count(*) FROM prompts p WHERE p.dataset_id = d.id) AS prompts,
                   (SELECT count(*) FROM synthetic_images si JOIN prompts p ON p.id = si.prompt_id
                      WHERE p.dataset_id = d.id) AS synthetic
            FROM datasets d
            """) {
            counts[row["name"]] = DerivedCounts(captions: row["captions"], prompts: row["prompts"], synthetic: row["synthetic"])
        }
        return counts
    }

    func classSummaries(dataset: String?, countSynthetic: Bool) throws -> [ClassSummary] {
        if let dataset { _ = try requireDataset(named: dataset) }
        let synthetic = countSynthetic
            ? "(SELECT count(*) FROM synthetic_images si JOIN prompts p ON p.id = si.prompt_id WHERE p.class_id = c.id)"
            : "0"
        return try Row.fetchAll(db, sql: """
            SELECT d.name AS dataset, c.id, c.label, c.wnid, c.name, c.prompt_name,
                   (SELECT count(*) FROM real_images r WHERE r.class_id = c.id) AS images, \(synthetic) AS synthetic
            FROM classes c JOIN datasets d ON d.id = c.dataset_id
            WHERE (? IS NULL OR d.name = ?)
            ORDER BY d.name, c.label
            """, arguments: [dataset, dataset]).map {
            ClassSummary(dataset: $0["dataset"],
                         class: ClassRecord(id: $0["id"], label: $0["label"], wnid: $0["wnid"], name: $0["name"], promptName: $0["prompt_name"]),
                         images: $0["images"], synthetic: $0["synthetic"])
        }
    }

    func realThumbnails(of datasetID: Int64, perClass: Int) throws -> [ClassThumbnail] {
        try Row.fetchAll(db, sql: """
            SELECT class_id, digest, path FROM (
                SELECT r.class_id, b.digest, r.path,
                       row_number() OVER (PARTITION BY r.class_id ORDER BY s.name, r.path) AS n
                FROM real_images r JOIN splits s ON s.id = r.split_id JOIN blobs b ON b.id = r.blob_id
                WHERE s.dataset_id = ?)
            WHERE n <= ? ORDER BY class_id, n
            """, arguments: [datasetID, perClass]).map {
            ClassThumbnail(classID: $0["class_id"], digest: try SQLiteRows.digest($0["digest"]), title: $0["path"])
        }
    }

    func syntheticThumbnails(of datasetID: Int64, perClass: Int) throws -> [ClassThumbnail] {
        try Row.fetchAll(db, sql: """
            SELECT class_id, digest, prompt FROM (
                SELECT p.class_id, b.digest, p.text AS prompt,
                       row_number() OVER (PARTITION BY p.class_id ORDER BY si.id) AS n
                FROM synthetic_images si JOIN prompts p ON p.id = si.prompt_id JOIN blobs b ON b.id = si.blob_id
                WHERE p.dataset_id = ?)
            WHERE n <= ? ORDER BY class_id, n
            """, arguments: [datasetID, perClass]).map {
            ClassThumbnail(classID: $0["class_id"], digest: try SQLiteRows.digest($0["digest"]), title: $0["prompt"])
        }
    }

    /// The dataset and split named by `filter` exist (`not-found` otherwise).
    private func check(_ filter: RealImageFilter) throws {
        guard let name = filter.dataset else { return }
        let dataset = try requireDataset(named: name)
        if let split = filter.split { _ = try requireSplit(named: split, of: dataset) }
    }

    func realImages(_ filter: RealImageFilter, offset: Int, limit: Int) throws -> [RealImageEntry] {
        try check(filter)
        return try RealImageListing.page(db, dataset: filter.dataset, split: filter.split, className: filter.className,
                                         offset: offset, limit: limit)
    }

    func forEachRealImage(_ filter: RealImageFilter, _ body: (RealImageEntry) throws -> Void) throws {
        try check(filter)
        let (sql, arguments) = RealImageListing.query(dataset: filter.dataset, split: filter.split, className: filter.className)
        let rows = try Row.fetchCursor(db, sql: sql, arguments: arguments)
        while let row = try rows.next() { try body(RealImageListing.entry(row)) }
    }

    func storedRealImages(of datasetID: Int64, after id: Int64, limit: Int) throws -> [StoredRealImage] {
        try Row.fetchAll(db, sql: """
            SELECT r.id, s.name AS split, c.wnid, b.digest, b.media_type, r.path, r.name, r.width, r.height, r.format,
                   r.color_space, r.file_size, r.file_mtime_ns
            FROM real_images r JOIN splits s ON s.id = r.split_id JOIN classes c ON c.id = r.class_id JOIN blobs b ON b.id = r.blob_id
            WHERE s.dataset_id = ? AND r.id > ? ORDER BY r.id LIMIT ?
            """, arguments: [datasetID, id, limit]).map { row in
            StoredRealImage(
                id: row["id"], split: row["split"], wnid: row["wnid"], digest: try SQLiteRows.digest(row["digest"]),
                mediaType: row["media_type"], path: row["path"], name: row["name"], width: row["width"], height: row["height"],
                format: row["format"], colorSpace: row["color_space"], fileSize: row["file_size"], mtimeNanoseconds: row["file_mtime_ns"])
        }
    }

    func ingestedFiles(dataset: String, split: String) throws -> [ExactName: IngestedFile] {
        try DatasetCatalog.ingestedFiles(db, dataset: dataset, split: split)
    }
}

struct SQLiteDatasetReader: SQLiteDatasetQueries {
    let db: Database
}

struct SQLiteDatasetWriter: SQLiteDatasetQueries, DatasetWriting {
    let db: Database

    func ensureDataset(named name: String) throws -> Int64 { try DatasetCatalog.ensureDataset(db, name: name) }

    func ensureSplit(named name: String, of datasetID: Int64) throws -> Int64 {
        try DatasetCatalog.ensureSplit(db, datasetID: datasetID, name: name)
    }

    func ensureClasses(of datasetID: Int64, wnids: some Sequence<ExactName>,
                       names: [ExactName: (name: String, promptName: String)]) throws -> [ExactName: ClassRecord] {
        try DatasetCatalog.ensureClasses(db, datasetID: datasetID, wnids: wnids, names: names)
    }

    func upsertRealImage(_ image: RealImageRow) throws { try DatasetCatalog.upsertRealImage(db, image) }

    /// In process, a cached statement per row costs what one statement for all would.
    func upsertRealImages(_ images: [RealImageRow]) throws {
        for image in images { try DatasetCatalog.upsertRealImage(db, image) }
    }

    func touchRealImage(id: Int64, mtimeNanoseconds: Int64) throws {
        try DatasetCatalog.touchRealImage(db, id: id, mtimeNanoseconds: mtimeNanoseconds)
    }

    func delete(dataset: String, split: String?) throws -> Int { try DatasetCatalog.delete(db, dataset: dataset, split: split) }
}

/// Column decoding shared by the repositories.
enum SQLiteRows {
    static func digest(_ value: Digest?) throws -> Digest {
        guard let value else { throw StoreError(.corrupt, "blob row has a malformed digest") }
        return value
    }
}
