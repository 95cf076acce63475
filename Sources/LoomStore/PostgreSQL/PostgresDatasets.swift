internal import NIOCore
internal import PostgresNIO

protocol PostgresDatasetQueries: DatasetReading, PostgresRepository {}

extension PostgresDatasetQueries {
    func dataset(named name: String) throws -> DatasetRecord? {
        try session.scalar("SELECT id FROM datasets WHERE name = \(name)", as: Int64.self).map { DatasetRecord(id: $0, name: name) }
    }

    func requireDataset(named name: String) throws -> DatasetRecord {
        if let dataset = try dataset(named: name) { return dataset }
        let known = try datasetNames()
        throw StoreError(.notFound, "no dataset named \"\(name)\" (datasets: \(known.isEmpty ? "none" : known.joined(separator: ", ")))")
    }

    func datasetNames() throws -> [String] {
        // COLLATE "C": byte order, as SQLite's BINARY collation sorts.
        try session.rows(#"SELECT name FROM datasets ORDER BY name COLLATE "C""#).map { try $0.value(0, String.self) }
    }

    func splitNames(of datasetID: Int64) throws -> [String] {
        try session.rows(#"SELECT name FROM splits WHERE dataset_id = \#(datasetID) ORDER BY name COLLATE "C""#).map {
            try $0.value(0, String.self)
        }
    }

    func split(named name: String, of datasetID: Int64) throws -> SplitRecord? {
        try session.scalar("SELECT id FROM splits WHERE dataset_id = \(datasetID) AND name = \(name)", as: Int64.self)
            .map { SplitRecord(id: $0, datasetID: datasetID, name: name) }
    }

    func requireSplit(named name: String, of dataset: DatasetRecord) throws -> SplitRecord {
        guard let split = try split(named: name, of: dataset.id) else {
            throw StoreError(.notFound, "dataset \"\(dataset.name)\" has no split \"\(name)\"")
        }
        return split
    }

    func classes(of datasetID: Int64) throws -> [ClassRecord] {
        try session.rows("SELECT id, label, wnid, name, prompt_name FROM classes WHERE dataset_id = \(datasetID) ORDER BY label")
            .map(PostgresRows.classRecord)
    }

    func realImageCount(of splitID: Int64) throws -> Int {
        try session.scalar("SELECT count(*) FROM real_images WHERE split_id = \(splitID)", as: Int.self) ?? 0
    }

    func classID(matching name: String, in datasetID: Int64) throws -> Int64? {
        try session.scalar("""
            SELECT id FROM classes WHERE dataset_id = \(datasetID) AND (wnid = \(name) OR name = \(name) OR prompt_name = \(name))
            ORDER BY label LIMIT 1
            """, as: Int64.self)
    }

    func derivedCounts() throws -> [String: DerivedCounts] {
        var counts: [String: DerivedCounts] = [:]
        for row in try session.rows("""
            SELECT d.name,
                   (SELECT count(*) FROM captions c JOIN real_images r ON r.id = c.real_image_id
                      JOIN splits s ON s.id = r.split_id WHERE s.dataset_id = d.id) AS captions,
                   (SELECT count(*) FROM prompts p WHERE p.dataset_id = d.id) AS prompts,
                   (SELECT count(*) FROM synthetic_images si JOIN prompts p ON p.id = si.prompt_id
                      WHERE p.dataset_id = d.id) AS synthetic
            FROM datasets d
            """) {
            counts[try row.value("name")] = DerivedCounts(captions: try row.value("captions"), prompts: try row.value("prompts"),
                                                          synthetic: try row.value("synthetic"))
        }
        return counts
    }

    func classSummaries(dataset: String?, countSynthetic: Bool) throws -> [ClassSummary] {
        if let dataset { _ = try requireDataset(named: dataset) }
        let synthetic = countSynthetic
            ? "(SELECT count(*) FROM synthetic_images si JOIN prompts p ON p.id = si.prompt_id WHERE p.class_id = c.id)"
            : "0::bigint"
        return try session.rows("""
            SELECT d.name AS dataset, c.id, c.label, c.wnid, c.name, c.prompt_name,
                   (SELECT count(*) FROM real_images r WHERE r.class_id = c.id) AS images, \(unescaped: synthetic) AS synthetic
            FROM classes c JOIN datasets d ON d.id = c.dataset_id
            WHERE (\(dataset)::text IS NULL OR d.name = \(dataset))
            ORDER BY d.name COLLATE "C", c.label
            """).map {
            ClassSummary(dataset: try $0.value("dataset"), class: try PostgresRows.classRecord($0),
                         images: try $0.value("images"), synthetic: try $0.value("synthetic"))
        }
    }

    func realThumbnails(of datasetID: Int64, perClass: Int) throws -> [ClassThumbnail] {
        try session.rows("""
            SELECT class_id, digest, path FROM (
                SELECT r.class_id, b.digest, r.path,
                       row_number() OVER (PARTITION BY r.class_id ORDER BY s.name COLLATE "C", r.path COLLATE "C") AS n
                FROM real_images r JOIN splits s ON s.id = r.split_id JOIN blobs b ON b.id = r.blob_id
                WHERE s.dataset_id = \(datasetID)) t
            WHERE n <= \(perClass) ORDER BY class_id, n
            """).map { ClassThumbnail(classID: try $0.value("class_id"), digest: try $0.digest("digest"), title: try $0.value("path")) }
    }

    func syntheticThumbnails(of datasetID: Int64, perClass: Int) throws -> [ClassThumbnail] {
        try session.rows("""
            SELECT class_id, digest, prompt FROM (
                SELECT p.class_id, b.digest, p.text AS prompt,
                       row_number() OVER (PARTITION BY p.class_id ORDER BY si.id) AS n
                FROM synthetic_images si JOIN prompts p ON p.id = si.prompt_id JOIN blobs b ON b.id = si.blob_id
                WHERE p.dataset_id = \(datasetID)) t
            WHERE n <= \(perClass) ORDER BY class_id, n
            """).map { ClassThumbnail(classID: try $0.value("class_id"), digest: try $0.digest("digest"), title: try $0.value("prompt")) }
    }

    /// The dataset and split named by `filter` exist (`not-found` otherwise).
    private func check(_ filter: RealImageFilter) throws {
        guard let name = filter.dataset else { return }
        let dataset = try requireDataset(named: name)
        if let split = filter.split { _ = try requireSplit(named: split, of: dataset) }
    }

    func realImages(_ filter: RealImageFilter, offset: Int, limit: Int) throws -> [RealImageEntry] {
        try check(filter)
        var statement = Self.listing(filter)
        statement.sql += " LIMIT \(statement.bind(limit)) OFFSET \(statement.bind(offset))"
        return try session.rows(statement.query).map(Self.entry)
    }

    func forEachRealImage(_ filter: RealImageFilter, _ body: (RealImageEntry) throws -> Void) throws {
        try check(filter)
        try session.forEachRow(Self.listing(filter).query) { try body(try Self.entry($0)) }
    }

    /// The listing with only the filters given, in (dataset, split, path) byte order as on SQLite.
    private static func listing(_ filter: RealImageFilter) -> PostgresStatement {
        var statement = PostgresStatement()
        var conditions: [String] = []
        if let dataset = filter.dataset { conditions.append("d.name = \(statement.bind(dataset))") }
        if let split = filter.split { conditions.append("s.name = \(statement.bind(split))") }
        if let name = filter.className {
            let placeholder = statement.bind(name)
            conditions.append("(c.wnid = \(placeholder) OR c.name = \(placeholder) OR c.prompt_name = \(placeholder))")
        }
        statement.sql = """
            SELECT encode(b.digest, 'hex') AS digest, d.name AS dataset, s.name AS split, c.wnid, c.label, r.path, r.name,
                   r.width, r.height, r.format, b.raw_size
            FROM real_images r
            JOIN splits s ON s.id = r.split_id
            JOIN datasets d ON d.id = s.dataset_id
            JOIN classes c ON c.id = r.class_id
            JOIN blobs b ON b.id = r.blob_id
            \(conditions.isEmpty ? "" : "WHERE " + conditions.joined(separator: " AND "))
            ORDER BY d.name COLLATE "C", s.name COLLATE "C", r.path COLLATE "C"
            """
        return statement
    }

    private static func entry(_ row: PostgresRandomAccessRow) throws -> RealImageEntry {
        RealImageEntry(
            digest: try row.value("digest"), dataset: try row.value("dataset"), split: try row.value("split"),
            class: try row.value("wnid"), label: try row.value("label"), path: try row.value("path"), name: try row.value("name"),
            width: try row.value("width"), height: try row.value("height"), format: try row.value("format"),
            bytes: try row.value("raw_size"))
    }

    func storedRealImages(of datasetID: Int64, after id: Int64, limit: Int) throws -> [StoredRealImage] {
        try session.rows("""
            SELECT r.id, s.name AS split, c.wnid, b.digest, b.media_type, r.path, r.name, r.width, r.height, r.format,
                   r.color_space, r.file_size, r.file_mtime_ns
            FROM real_images r JOIN splits s ON s.id = r.split_id JOIN classes c ON c.id = r.class_id JOIN blobs b ON b.id = r.blob_id
            WHERE s.dataset_id = \(datasetID) AND r.id > \(id) ORDER BY r.id LIMIT \(limit)
            """).map { row in
            StoredRealImage(
                id: try row.value("id"), split: try row.value("split"), wnid: try row.value("wnid"), digest: try row.digest("digest"),
                mediaType: try row.value("media_type"), path: try row.value("path"), name: try row.value("name"),
                width: try row.value("width"), height: try row.value("height"), format: try row.value("format"),
                colorSpace: try row.value("color_space"), fileSize: try row.value("file_size"),
                mtimeNanoseconds: try row.value("file_mtime_ns"))
        }
    }

    func ingestedFiles(dataset: String, split: String) throws -> [ExactName: IngestedFile] {
        guard let datasetID = try self.dataset(named: dataset)?.id, let splitID = try self.split(named: split, of: datasetID)?.id else {
            return [:]
        }
        var files: [ExactName: IngestedFile] = [:]
        try session.forEachRow("""
            SELECT r.id, r.path, r.file_size, r.file_mtime_ns, b.digest, c.wnid
            FROM real_images r JOIN blobs b ON b.id = r.blob_id JOIN classes c ON c.id = r.class_id WHERE r.split_id = \(splitID)
            """) { row in
            files[ExactName(try row.value("path"))] = IngestedFile(
                id: try row.value("id"), size: try row.value("file_size"), mtimeNanoseconds: try row.value("file_mtime_ns"),
                digest: try row.digest("digest"), wnid: try row.value("wnid"))
        }
        return files
    }
}

struct PostgresDatasetReader: PostgresDatasetQueries {
    let session: PostgresSession
}

struct PostgresDatasetWriter: PostgresDatasetQueries, DatasetWriting {
    let session: PostgresSession

    func ensureDataset(named name: String) throws -> Int64 {
        try PostgresRows.ensure(session, find: "SELECT id FROM datasets WHERE name = \(name)",
                                insert: "INSERT INTO datasets (name) VALUES (\(name)) ON CONFLICT (name) DO NOTHING RETURNING id")
    }

    func ensureSplit(named name: String, of datasetID: Int64) throws -> Int64 {
        try PostgresRows.ensure(
            session, find: "SELECT id FROM splits WHERE dataset_id = \(datasetID) AND name = \(name)",
            insert: "INSERT INTO splits (dataset_id, name) VALUES (\(datasetID), \(name)) ON CONFLICT (dataset_id, name) DO NOTHING RETURNING id")
    }

    /// As on SQLite (``DatasetCatalog/ensureClasses(_:datasetID:wnids:names:)``). Labels are
    /// read, then allocated: the dataset's row is locked first, so writers adding classes to
    /// one dataset at once take turns and never hand out one label twice.
    func ensureClasses(of datasetID: Int64, wnids: some Sequence<ExactName>,
                       names: [ExactName: (name: String, promptName: String)]) throws -> [ExactName: ClassRecord] {
        try session.execute("SELECT id FROM datasets WHERE id = \(datasetID) FOR UPDATE")
        var byWnid: [ExactName: ClassRecord] = [:]
        for record in try classes(of: datasetID) { byWnid[ExactName(record.wnid)] = record }
        var nextLabel = (byWnid.values.map(\.label).max() ?? -1) + 1
        for wnid in Set(wnids).sorted() where byWnid[wnid] == nil {
            let named = names[wnid] ?? (wnid.string, wnid.string)
            guard let id = try session.scalar("""
                INSERT INTO classes (dataset_id, label, wnid, name, prompt_name)
                VALUES (\(datasetID), \(nextLabel), \(wnid.string), \(named.name), \(named.promptName)) RETURNING id
                """, as: Int64.self) else { throw StoreError(.io, "PostgreSQL at \(session.endpoint): INSERT INTO classes returned no id") }
            byWnid[wnid] = ClassRecord(id: id, label: nextLabel, wnid: wnid.string, name: named.name, promptName: named.promptName)
            nextLabel += 1
        }
        for (wnid, named) in names {
            guard var record = byWnid[wnid], record.name != named.name || record.promptName != named.promptName else { continue }
            try session.execute("UPDATE classes SET name = \(named.name), prompt_name = \(named.promptName) WHERE id = \(record.id)")
            record.name = named.name
            record.promptName = named.promptName
            byWnid[wnid] = record
        }
        return byWnid
    }

    func upsertRealImage(_ image: RealImageRow) throws {
        try session.execute("""
            INSERT INTO real_images (split_id, class_id, blob_id, path, name, width, height, format, color_space, file_size, file_mtime_ns)
            VALUES (\(image.splitID), \(image.classID), \(image.blobID), \(image.path), \(image.name), \(image.width), \(image.height),
                    \(image.format), \(image.colorSpace), \(image.fileSize), \(image.mtimeNanoseconds))
            ON CONFLICT (split_id, path) DO UPDATE SET
                class_id = excluded.class_id, blob_id = excluded.blob_id, width = excluded.width, height = excluded.height,
                format = excluded.format, color_space = excluded.color_space, file_size = excluded.file_size,
                file_mtime_ns = excluded.file_mtime_ns
            """)
    }

    func upsertRealImages(_ images: [RealImageRow]) throws {
        guard images.count > 1 else { return try images.first.map(upsertRealImage) ?? () }
        try session.execute("""
            INSERT INTO real_images (split_id, class_id, blob_id, path, name, width, height, format, color_space, file_size, file_mtime_ns)
            SELECT * FROM unnest(\(images.map(\.splitID))::bigint[], \(images.map(\.classID))::bigint[], \(images.map(\.blobID))::bigint[],
                                 \(images.map(\.path))::text[], \(images.map(\.name))::text[], \(images.map { Int64($0.width) })::bigint[],
                                 \(images.map { Int64($0.height) })::bigint[], \(images.map(\.format))::text[],
                                 \(images.map(\.colorSpace))::text[], \(images.map { Int64($0.fileSize) })::bigint[],
                                 \(images.map(\.mtimeNanoseconds))::bigint[])
            ON CONFLICT (split_id, path) DO UPDATE SET
                class_id = excluded.class_id, blob_id = excluded.blob_id, width = excluded.width, height = excluded.height,
                format = excluded.format, color_space = excluded.color_space, file_size = excluded.file_size,
                file_mtime_ns = excluded.file_mtime_ns
            """)
    }

    func touchRealImage(id: Int64, mtimeNanoseconds: Int64) throws {
        try session.execute("UPDATE real_images SET file_mtime_ns = \(mtimeNanoseconds) WHERE id = \(id)")
    }

    func delete(dataset: String, split: String?) throws -> Int {
        guard let datasetID = try self.dataset(named: dataset)?.id else {
            throw StoreError(.notFound, "no dataset named \"\(dataset)\"")
        }
        if let split {
            guard let splitID = try self.split(named: split, of: datasetID)?.id else {
                throw StoreError(.notFound, "dataset \"\(dataset)\" has no split \"\(split)\"")
            }
            let images = try session.scalar("SELECT count(*) FROM real_images WHERE split_id = \(splitID)", as: Int.self) ?? 0
            try session.execute("DELETE FROM splits WHERE id = \(splitID)")
            return images
        }
        let images = try session.scalar("""
            SELECT count(*) FROM real_images r JOIN splits s ON s.id = r.split_id WHERE s.dataset_id = \(datasetID)
            """, as: Int.self) ?? 0
        try session.execute("DELETE FROM datasets WHERE id = \(datasetID)")
        return images
    }
}

/// Row decoding and statement shapes shared by the repositories.
enum PostgresRows {
    /// A captioners or generators row read as an identity (a captioner's `version` is '').
    static func backendIdentity(_ row: PostgresRandomAccessRow) throws -> BackendIdentity {
        BackendIdentity(id: try row.value("id"), name: try row.value("name"), version: try row.value("version"),
                        params: try row.value("params"), createdAt: try row.value("created_at"))
    }

    static func classRecord(_ row: PostgresRandomAccessRow) throws -> ClassRecord {
        ClassRecord(id: try row.value("id"), label: try row.value("label"), wnid: try row.value("wnid"), name: try row.value("name"),
                    promptName: try row.value("prompt_name"))
    }

    /// Get-or-create through a unique key, safe with concurrent writers: look, insert unless
    /// there (`ON CONFLICT DO NOTHING RETURNING id`), and when a concurrent writer's insert won,
    /// look again (READ COMMITTED: each statement sees what committed before it began).
    static func ensure(_ session: PostgresSession, find: PostgresQuery, insert: PostgresQuery) throws -> Int64 {
        if let id = try session.scalar(find, as: Int64.self) { return id }
        if let id = try session.scalar(insert, as: Int64.self) { return id }
        if let id = try session.scalar(find, as: Int64.self) { return id }
        throw StoreError(.io, "PostgreSQL at \(session.endpoint): a row was neither inserted nor found (\(insert.sql.prefix(40))...)")
    }
}
