import LoomStore

/// Where an ingest reads its dataset from: a folder on disk (``DirectorySource``) or files held
/// in memory (``InMemorySource``, what `POST /v1/ingest` uploads). Both list the same layouts
/// with the same split, class, hidden-name and limit rules, so the same tree ingests to the same
/// catalog rows and the same rejections whichever source holds it.
public protocol IngestSource: Sendable {
    /// What the summary and the run row name as the dataset's root.
    var root: String { get }
    /// Lists the dataset (see ``DatasetScanner`` for the rules). Throws past `maxFiles` entries,
    /// before anything is stored; only the class folders in `only` are listed when it is set.
    func scan(split: String?, maxFiles: Int, only: Set<ExactName>?) throws -> DatasetScanner.Result
    /// The bytes of a file ``scan(split:maxFiles:only:)`` found. Called on worker threads; a
    /// failure becomes that file's rejection, with the error's description as its reason.
    func contents(of file: SourceFile) throws -> [UInt8]
    /// The side file `name` (class names, validation labels) that goes with this dataset, when
    /// the source has somewhere to keep one.
    func nearbyFile(named name: String) -> String?
    /// Class names the source itself carries (WebDataset json), after ``scan(split:maxFiles:only:)``.
    var classNames: [ExactName: (name: String, promptName: String)]? { get }
    /// Whether processes of a fleet ingest should split its files into claimed hash shares.
    var sharesFiles: Bool { get }
}

extension IngestSource {
    public var classNames: [ExactName: (name: String, promptName: String)]? { nil }
    public var sharesFiles: Bool { true }
}

/// A dataset folder on disk, walked by ``DatasetScanner``.
public struct DirectorySource: IngestSource {
    public let root: String
    /// Follow directory links that lead out of the dataset folder.
    public let followLinks: Bool

    public init(root: String, followLinks: Bool = false) {
        self.root = root
        self.followLinks = followLinks
    }

    public func scan(split: String?, maxFiles: Int, only: Set<ExactName>?) throws -> DatasetScanner.Result {
        try DatasetScanner(root: root, split: split, followLinks: followLinks, maxFiles: maxFiles, only: only).scan()
    }

    public func contents(of file: SourceFile) throws -> [UInt8] { try FileReading.readAll(file.absolutePath) }

    /// In ROOT or up to three folders above it (``NearbyFile``), as Kaggle's ImageNet keeps them.
    public func nearbyFile(named name: String) -> String? { NearbyFile.find(name, near: root) }
}
