import Foundation
import GRDB
import LoomImage
import LoomParallel
import LoomStore

/// Ingests a dataset folder into a store.
///
/// Files are read, hashed and validated (a full JPEG/PNG decode, DCT-scaled for JPEG) on all
/// cores; one writer appends their bytes to the shard and commits rows in batches, in the
/// scanner's sorted order. Because every batch commits atomically after its bytes are durable,
/// an ingest killed at any moment resumes by running it again: the files committed before the
/// kill come back as `unchanged`, the rest go in, and the catalog ends up exactly as after an
/// uninterrupted run.
public final class Ingestor {
    public struct Options: Sendable {
        public var dataset: String
        /// ImageFolder layout: the split to file images under (default "train"). Ignored for the
        /// train/val layout unless given, in which case ROOT is read as ImageFolder.
        public var split: String?
        /// `LOC_synset_mapping.txt`-style names; `ROOT/LOC_synset_mapping.txt` is used when absent.
        public var classNamesPath: String?
        public var workers: Int
        public var limits: DecodeLimits
        /// Files larger than this are rejected unread.
        public var maxFileBytes: Int
        /// A commit happens after this many images or `commitBytes` bytes, whichever comes first.
        public var commitImages: Int
        public var commitBytes: Int

        public init(dataset: String, split: String? = nil, classNamesPath: String? = nil,
                    workers: Int = ProcessInfo.processInfo.activeProcessorCount, limits: DecodeLimits = .default,
                    maxFileBytes: Int = 256 << 20, commitImages: Int = 1024, commitBytes: Int = 64 << 20) {
            self.dataset = dataset
            self.split = split
            self.classNamesPath = classNamesPath
            self.workers = max(1, workers)
            self.limits = limits
            self.maxFileBytes = maxFileBytes
            self.commitImages = max(1, commitImages)
            self.commitBytes = commitBytes
        }
    }

    public let store: Store
    public let options: Options

    public init(store: Store, options: Options) {
        self.store = store
        self.options = options
    }

    /// Scans `root`, ingests what is new or changed, and returns the summary.
    /// - Parameter progress: called on the writer thread after each handled file (throttle in the sink).
    public func run(root: String, progress: (IngestProgress) -> Void = { _ in }) throws -> IngestSummary {
        let clock = ContinuousClock.now
        guard !options.dataset.isEmpty else { throw IngestError("a dataset name is required (--dataset)") }
        let scan = try DatasetScanner(root: root, split: options.split).scan()
        let names = try classNames(root: root)
        let writer = try store.makeWriter()

        let setup = try writer.commit { db, _ in try Setup(db: db, options: options, scan: scan, names: names, root: root) }
        var summary = IngestSummary(
            dataset: options.dataset, root: root, layout: scan.layout, splits: scan.splits.sorted(), classes: scan.classes.count,
            files: scan.files.count, added: 0, duplicates: 0, unchanged: 0, updated: 0, rejected: scan.rejected,
            bytesRead: 0, bytesStored: 0, seconds: 0, imagesPerSecond: 0)

        var work: [(file: SourceFile, previous: IngestedFile?)] = []
        for file in scan.files {
            let previous = setup.existing[file.split]?[file.path]
            if let previous, previous.size == file.size, previous.mtimeNanoseconds == file.mtimeNanoseconds {
                summary.unchanged += 1
            } else {
                work.append((file, previous))
            }
        }

        let files = work.map(\.file)
        let limits = options.limits, maxFileBytes = options.maxFileBytes
        let map = OrderedParallelMap<FileOutcome>(count: files.count, workers: options.workers, window: 512) {
            let validator = try? ImageValidator(limits: limits)
            return { index in FileOutcome.examine(files[index], validator: validator, maxFileBytes: maxFileBytes) }
        }
        defer { map.cancel() }

        var batch: [(checked: CheckedImage, previous: IngestedFile?)] = []
        var batchBytes = 0, done = 0
        func flush() throws {
            guard !batch.isEmpty else { return }
            try commit(batch, writer: writer, setup: setup, summary: &summary)
            batch.removeAll(keepingCapacity: true)
            batchBytes = 0
        }
        while let outcome = map.next() {
            let previous = work[done].previous
            done += 1
            switch outcome {
            case .rejected(let rejection):
                summary.rejected.append(rejection)
            case .image(let checked):
                summary.bytesRead += checked.bytes.count
                batch.append((checked, previous))
                batchBytes += checked.bytes.count
                if batch.count >= options.commitImages || batchBytes >= options.commitBytes { try flush() }
            }
            progress(IngestProgress(done: done, total: files.count, bytes: summary.bytesRead,
                                    seconds: (ContinuousClock.now - clock) / .seconds(1)))
        }
        try flush()

        let elapsed = (ContinuousClock.now - clock) / .seconds(1)
        summary.seconds = elapsed
        summary.imagesPerSecond = elapsed > 0 ? Double(done) / elapsed : 0
        try finishRun(setup.runID, summary: summary, writer: writer)
        return summary
    }

    private func commit(_ batch: [(checked: CheckedImage, previous: IngestedFile?)], writer: StoreWriter,
                        setup: Setup, summary: inout IngestSummary) throws {
        let committed = try writer.committedBlobIDs(batch.map(\.checked.digest))
        var newInBatch: Set<Digest> = []
        var counts = (added: 0, duplicates: 0, updated: 0, unchanged: 0)
        var touched: [(Int64, Int64)] = []
        var rows: [(CheckedImage, Bool)] = []
        let before = writer.pendingBytes
        for (checked, previous) in batch {
            if let previous, previous.digest == checked.digest {
                // Same content, new mtime: remember the mtime so the next run skips the file unread.
                touched.append((previous.id, checked.file.mtimeNanoseconds))
                counts.unchanged += 1
                continue
            }
            if committed[checked.digest] == nil && !newInBatch.contains(checked.digest) {
                try checked.bytes.withUnsafeBytes { raw in
                    _ = try writer.stage(raw, digest: checked.digest, mediaType: checked.info.format.mediaType)
                }
                newInBatch.insert(checked.digest)
                if previous == nil { counts.added += 1 }
            } else if previous == nil {
                counts.duplicates += 1
            }
            if previous != nil { counts.updated += 1 }
            rows.append((checked, previous != nil))
        }
        let stored = writer.pendingBytes - before
        try writer.commit { db, newIDs in
            for (checked, _) in rows {
                guard let blobID = committed[checked.digest] ?? newIDs[checked.digest],
                      let split = setup.splitIDs[checked.file.split], let classRecord = setup.classes[checked.file.wnid] else {
                    throw IngestError("internal: no blob, split or class for \(checked.file.path)")
                }
                try DatasetCatalog.upsertRealImage(db, RealImageRow(
                    splitID: split, classID: classRecord.id, blobID: blobID, path: checked.file.path, name: checked.file.name,
                    width: checked.info.width, height: checked.info.height, format: checked.info.format.rawValue,
                    colorSpace: checked.info.colorSpace.rawValue, fileSize: checked.file.size,
                    mtimeNanoseconds: checked.file.mtimeNanoseconds))
            }
            for (id, mtime) in touched { try DatasetCatalog.touchRealImage(db, id: id, mtimeNanoseconds: mtime) }
        }
        summary.added += counts.added
        summary.duplicates += counts.duplicates
        summary.updated += counts.updated
        summary.unchanged += counts.unchanged
        summary.bytesStored += stored
    }

    private func classNames(root: String) throws -> [String: (name: String, promptName: String)] {
        if let path = options.classNamesPath { return try ClassNamesFile(path: path).names }
        let standard = root + "/LOC_synset_mapping.txt"
        if FileManager.default.fileExists(atPath: standard) { return try ClassNamesFile(path: standard).names }
        return [:]
    }

    private func finishRun(_ runID: Int64, summary: IngestSummary, writer: StoreWriter) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        var recorded = summary
        // Keep the run row small: the first rejections and their count are enough to look back on.
        recorded.rejected = Array(summary.rejected.prefix(100))
        let json = String(decoding: try encoder.encode(recorded), as: UTF8.self)
        try writer.commit { db, _ in
            try db.execute(
                sql: "UPDATE runs SET status = 'finished', summary = ?, finished_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now') WHERE id = ?",
                arguments: [json, runID])
        }
    }
}

/// The catalog side of an ingest, prepared in one transaction before any file is read.
struct Setup {
    var datasetID: Int64
    var splitIDs: [String: Int64] = [:]
    var classes: [String: ClassRecord] = [:]
    var existing: [String: [String: IngestedFile]] = [:]
    var runID: Int64

    init(db: Database, options: Ingestor.Options, scan: DatasetScanner.Result,
         names: [String: (name: String, promptName: String)], root: String) throws {
        datasetID = try DatasetCatalog.ensureDataset(db, name: options.dataset)
        for split in scan.splits {
            let id = try DatasetCatalog.ensureSplit(db, datasetID: datasetID, name: split)
            splitIDs[split] = id
            existing[split] = try DatasetCatalog.ingestedFiles(db, splitID: id)
        }
        classes = try DatasetCatalog.ensureClasses(db, datasetID: datasetID, wnids: scan.classes, names: names)
        let config: [String: String] = ["root": root, "split": options.split ?? "", "layout": scan.layout,
                                        "class_names": options.classNamesPath ?? ""]
        let json = String(decoding: try JSONEncoder().encode(config), as: UTF8.self)
        try db.execute(sql: "INSERT INTO runs (stage, dataset_id, config, status) VALUES ('ingest', ?, ?, 'running')",
                       arguments: [datasetID, json])
        runID = db.lastInsertedRowID
    }
}

/// A file that read, hashed and decoded cleanly.
struct CheckedImage: Sendable {
    var file: SourceFile
    var bytes: [UInt8]
    var digest: Digest
    var info: ImageInfo
}

enum FileOutcome: Sendable {
    case image(CheckedImage)
    case rejected(Rejection)

    /// Reads, hashes and validates one file (runs on a worker thread).
    static func examine(_ file: SourceFile, validator: ImageValidator?, maxFileBytes: Int) -> FileOutcome {
        guard let validator else { return .rejected(Rejection(path: file.path, reason: "cannot create a JPEG decoder")) }
        if file.size > maxFileBytes {
            return .rejected(Rejection(path: file.path, reason: "file is \(file.size) bytes, over the \(maxFileBytes)-byte limit"))
        }
        let bytes: [UInt8]
        do {
            bytes = try FileReading.readAll(file.absolutePath)
        } catch {
            return .rejected(Rejection(path: file.path, reason: "\(error)"))
        }
        let info: ImageInfo
        do {
            info = try bytes.withUnsafeBytes { try validator.validate($0) }
        } catch let error as ImageError {
            return .rejected(Rejection(path: file.path, reason: error.reason))
        } catch {
            return .rejected(Rejection(path: file.path, reason: "\(error)"))
        }
        let digest = Digest.sha256(bytes)
        return .image(CheckedImage(file: file, bytes: bytes, digest: digest, info: info))
    }
}
