/// A dataset row.
public struct DatasetRecord: Hashable, Sendable {
    public var id: Int64
    public var name: String
    public init(id: Int64, name: String) {
        self.id = id
        self.name = name
    }
}

/// A split of a dataset.
public struct SplitRecord: Hashable, Sendable {
    public var id: Int64
    public var datasetID: Int64
    public var name: String
    public init(id: Int64, datasetID: Int64, name: String) {
        self.id = id
        self.datasetID = datasetID
        self.name = name
    }
}

/// What a dataset has beyond its real images: captions, prompts and synthetic images.
public struct DerivedCounts: Hashable, Sendable {
    public var captions: Int
    public var prompts: Int
    public var synthetic: Int
    public init(captions: Int = 0, prompts: Int = 0, synthetic: Int = 0) {
        self.captions = captions
        self.prompts = prompts
        self.synthetic = synthetic
    }
}

/// A class with how many images it has.
public struct ClassSummary: Hashable, Sendable {
    public var dataset: String
    public var `class`: ClassRecord
    public var images: Int
    /// Synthetic images of the class; 0 unless asked for (it costs a join per class).
    public var synthetic: Int
}

/// One thumbnail of a class: a digest and the text shown beside it (a path, a prompt).
public struct ClassThumbnail: Hashable, Sendable {
    public var classID: Int64
    public var digest: Digest
    public var title: String
}

/// Which real images to list; nil is any. `className` matches wnid, display or prompt name.
public struct RealImageFilter: Hashable, Sendable {
    public var dataset: String?
    public var split: String?
    public var className: String?
    public init(dataset: String? = nil, split: String? = nil, className: String? = nil) {
        self.dataset = dataset
        self.split = split
        self.className = className
    }
}

/// A real image row whole, with its split, class and blob named rather than numbered: what
/// `loom copy` needs to write the same row into another catalog.
public struct StoredRealImage: Hashable, Sendable {
    public var id: Int64
    public var split: String
    public var wnid: String
    public var digest: Digest
    public var mediaType: String
    public var path: String
    public var name: String
    public var width: Int
    public var height: Int
    public var format: String
    public var colorSpace: String
    public var fileSize: Int
    public var mtimeNanoseconds: Int64
}

/// Datasets, splits, classes and real images: the read side.
public protocol DatasetReading {
    func dataset(named name: String) throws -> DatasetRecord?
    /// The dataset, or `not-found` naming the datasets there are.
    func requireDataset(named name: String) throws -> DatasetRecord
    func datasetNames() throws -> [String]
    func split(named name: String, of datasetID: Int64) throws -> SplitRecord?
    /// The dataset's split names, in byte order.
    func splitNames(of datasetID: Int64) throws -> [String]
    /// The split, or `not-found` naming the dataset and split.
    func requireSplit(named name: String, of dataset: DatasetRecord) throws -> SplitRecord
    /// Classes in label order.
    func classes(of datasetID: Int64) throws -> [ClassRecord]
    /// Real images in a split.
    func realImageCount(of splitID: Int64) throws -> Int
    /// The id of the class whose wnid, display name or prompt name is `name`.
    func classID(matching name: String, in datasetID: Int64) throws -> Int64?
    /// Captions, prompts and synthetic images per dataset name.
    func derivedCounts() throws -> [String: DerivedCounts]
    /// Classes of one dataset or all, in (dataset, label) order, with their image counts.
    func classSummaries(dataset: String?, countSynthetic: Bool) throws -> [ClassSummary]
    /// Up to `perClass` real images per class in (split, path) order, titled with the path.
    func realThumbnails(of datasetID: Int64, perClass: Int) throws -> [ClassThumbnail]
    /// Up to `perClass` synthetic images per class in generation order, titled with the prompt.
    func syntheticThumbnails(of datasetID: Int64, perClass: Int) throws -> [ClassThumbnail]
    /// Real images matching `filter` in (dataset, split, path) order, `limit` from `offset` on.
    func realImages(_ filter: RealImageFilter, offset: Int, limit: Int) throws -> [RealImageEntry]
    /// Streams the real images matching `filter` in (dataset, split, path) order.
    func forEachRealImage(_ filter: RealImageFilter, _ body: (RealImageEntry) throws -> Void) throws
    /// A page of a dataset's real images whole, in id order: at most `limit` with ids above `id`.
    func storedRealImages(of datasetID: Int64, after id: Int64, limit: Int) throws -> [StoredRealImage]
    /// Files already ingested into a split, by exact path; empty when neither exists.
    func ingestedFiles(dataset: String, split: String) throws -> [ExactName: IngestedFile]
}

/// Datasets, splits, classes and real images: the write side.
public protocol DatasetWriting: DatasetReading {
    func ensureDataset(named name: String) throws -> Int64
    func ensureSplit(named name: String, of datasetID: Int64) throws -> Int64
    /// Adds the classes not yet known (labelled after the existing ones in byte order of wnid)
    /// and applies `names` to new and existing classes alike.
    func ensureClasses(of datasetID: Int64, wnids: some Sequence<ExactName>,
                       names: [ExactName: (name: String, promptName: String)]) throws -> [ExactName: ClassRecord]
    /// Inserts a real image, or repoints the row at a path whose content changed.
    func upsertRealImage(_ image: RealImageRow) throws
    /// ``upsertRealImage(_:)`` for many rows in one statement where the engine allows it (one
    /// round trip to PostgreSQL). No two may share a (split, path).
    func upsertRealImages(_ images: [RealImageRow]) throws
    /// Records that an unchanged file's modification time moved.
    func touchRealImage(id: Int64, mtimeNanoseconds: Int64) throws
    /// Deletes a dataset or one split of it; the bytes stay until `loom gc`.
    /// - Returns: the number of real images deleted.
    func delete(dataset: String, split: String?) throws -> Int
}
