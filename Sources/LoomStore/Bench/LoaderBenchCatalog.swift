/// The scratch store `loom bench loader --catalog-rows` measures: one dataset (`bench`, split
/// `train`) whose rows point, round robin, at a few thousand real blobs, so a catalog of a
/// million rows costs only the bytes of those blobs. Written through the writer and the
/// repositories like any store, so it opens, verifies and loads as one.
public enum LoaderBenchCatalog {
    public struct Blob: Sendable {
        public var bytes: [UInt8]
        public var digest: Digest
        public var mediaType: String
        public var width: Int
        public var height: Int
        public var format: String
        public init(bytes: [UInt8], digest: Digest, mediaType: String, width: Int, height: Int, format: String) {
            self.bytes = bytes
            self.digest = digest
            self.mediaType = mediaType
            self.width = width
            self.height = height
            self.format = format
        }
    }

    /// Fills the new store at `layout` with `rows` real-image rows in `classes` classes over
    /// `blobs`; `progress` gets the rows written so far.
    public static func build(_ layout: StoreLayout, blobs: [Blob], rows: Int, classes: Int,
                             progress: (Int) -> Void = { _ in }) throws {
        guard !blobs.isEmpty, rows > 0, classes > 0 else {
            throw StoreError(.invalidArgument, "a bench catalog needs blobs, rows and classes")
        }
        let store = try Store(layout, access: .readWrite)
        let writer = try store.makeWriter()
        for blob in blobs {
            try blob.bytes.withUnsafeBytes { _ = try writer.stage($0, digest: blob.digest, mediaType: blob.mediaType) }
        }
        let wnids = (0..<classes).map { ExactName("class_" + String(repeating: "0", count: max(0, 4 - String($0).count)) + String($0)) }
        let (splitID, classIDs, blobIDs) = try writer.transaction { tx -> (Int64, [Int64], [Int64]) in
            let datasetID = try tx.datasets.ensureDataset(named: "bench")
            let splitID = try tx.datasets.ensureSplit(named: "train", of: datasetID)
            let made = try tx.datasets.ensureClasses(of: datasetID, wnids: wnids, names: [:])
            let committed = tx.newBlobIDs
            return (splitID, wnids.map { made[$0]!.id }, try blobs.map { blob in
                guard let id = committed[blob.digest] else { throw StoreError(.corrupt, "bench blob \(blob.digest.hex) was not committed") }
                return id
            })
        }
        // Rows go in as an ingest writes them: class folder by class folder, names in byte order
        // (zero-padded, so that is also row order). The loader reads in path order; rows
        // interleaved across classes, as this once wrote them, sent every row's lookup to
        // another page of the table, which no ingested catalog does.
        let digits = String(rows - 1).count
        let chunk = 20_000
        for start in stride(from: 0, to: rows, by: chunk) {
            try writer.transaction { tx in
                try tx.datasets.upsertRealImages((start..<min(rows, start + chunk)).map { row in
                    let blob = blobs[row % blobs.count], label = row * classes / rows
                    let name = String(repeating: "0", count: digits - String(row).count) + String(row)
                    return RealImageRow(
                        splitID: splitID, classID: classIDs[label], blobID: blobIDs[row % blobs.count],
                        path: "\(wnids[label].string)/\(name).\(blob.format == "png" ? "png" : "jpg")", name: name,
                        width: blob.width, height: blob.height, format: blob.format, colorSpace: "rgb",
                        fileSize: blob.bytes.count, mtimeNanoseconds: 0)
                })
            }
            progress(min(rows, start + chunk))
        }
    }
}
