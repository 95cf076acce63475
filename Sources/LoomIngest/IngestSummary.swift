/// What an ingest did. JSON keys are part of the CLI contract (`loom ingest --json`).
public struct IngestSummary: Codable, Sendable {
    public var dataset: String
    public var root: String
    public var layout: String
    public var splits: [String]
    public var classes: Int
    /// Files found below class folders.
    public var files: Int
    /// New images whose bytes were new to the store.
    public var added: Int
    /// New images whose bytes the store already held (same SHA-256): one more row, no new bytes.
    public var duplicates: Int
    /// Images already ingested from the same path with the same size and content.
    public var unchanged: Int
    /// Paths ingested before whose content has changed since: the row now points at the new bytes.
    public var updated: Int
    public var rejected: [Rejection]
    /// Original bytes of the images read in this run (unchanged files are not read).
    public var bytesRead: Int
    /// Bytes appended to shards (records with headers).
    public var bytesStored: Int
    public var seconds: Double
    /// Files read and checked per second (unchanged files are skipped unread and not counted).
    public var imagesPerSecond: Double
    /// Files left out because their label names a class that `--classes` leaves out (class
    /// folders it leaves out are not walked, so their files are not counted).
    public var skipped: Int = 0
    /// Where the class names came from: a names file, or `built-in imagenette` / `built-in imagewoof`.
    public var classNames: String?
    /// The labels file that labelled a flat `val/` folder.
    public var valLabels: String?
    /// On a fleet store, files of the tree that other processes ingesting it at the same time
    /// took (absent when no other process shared the work).
    public var elsewhere: Int?

    enum CodingKeys: String, CodingKey {
        case dataset, root, layout, splits, classes, files, added, duplicates, unchanged, updated, rejected, seconds, skipped
        case classNames = "class_names"
        case valLabels = "val_labels"
        case elsewhere = "ingested_elsewhere"
        case bytesRead = "bytes_read"
        case bytesStored = "bytes_stored"
        case imagesPerSecond = "images_per_second"
    }
}

/// Reported while an ingest runs, for progress displays.
public struct IngestProgress: Sendable {
    /// Files handled so far (read, checked and committed or rejected).
    public var done: Int
    /// Files this run has to read (unchanged files are not counted).
    public var total: Int
    public var bytes: Int
    public var seconds: Double
}
