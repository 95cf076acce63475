import Foundation
import LoomImage
import LoomParallel
import LoomStore

/// Ingests a dataset folder (or an ``InMemorySource``) into a store.
///
/// Files are read, hashed and validated (a full JPEG/PNG decode, DCT-scaled for JPEG) on all
/// cores; one writer appends their bytes to the shard and commits rows in batches, in the
/// scanner's sorted order. Because every batch commits atomically after its bytes are durable,
/// an ingest killed at any moment resumes by running it again: the files committed before the
/// kill come back as `unchanged`, the rest go in, and the catalog ends up exactly as after an
/// uninterrupted run. The dataset's rows (dataset, splits, classes, run) commit together with the
/// first batch of images, so an ingest that fails before committing anything (a full disk, a
/// kill) leaves no empty dataset behind.
public final class Ingestor {
    public struct Options: Sendable {
        public var dataset: String
        /// ImageFolder layout: the split to file images under (default "train"). Ignored for the
        /// train/val layout unless given, in which case ROOT is read as ImageFolder.
        public var split: String?
        /// `LOC_synset_mapping.txt`-style names; when absent, `LOC_synset_mapping.txt` in ROOT or
        /// up to three folders above it (Kaggle's ImageNet download), else the built-in names of
        /// ImageNette or Imagewoof when the classes are exactly theirs.
        public var classNamesPath: String?
        /// Ingest only the classes this file names (``ClassSubset``).
        public var classesPath: String?
        /// Labels for files directly in `val/` (``ValLabels``); when absent, `LOC_val_solution.csv`
        /// in ROOT or up to three folders above it.
        public var valLabelsPath: String?
        /// Per-file labels overriding the class folders (``LabelsCSV``), from `labelColumn`.
        public var labelsCSVPath: String?
        public var labelColumn: String?
        public var workers: Int
        public var limits: DecodeLimits
        /// Files larger than this are rejected unread.
        public var maxFileBytes: Int
        /// A commit happens after this many images or `commitBytes` bytes, whichever comes first.
        public var commitImages: Int
        public var commitBytes: Int
        /// Follow directory links that lead out of the dataset folder (see ``DatasetScanner``).
        public var followLinks: Bool
        /// The scan stops with an error past this many files, before anything is stored.
        public var maxFiles: Int
        /// On a fleet store: how long a claim on a share of the files holds without renewal.
        public var lease: Duration

        public init(dataset: String, split: String? = nil, classNamesPath: String? = nil,
                    workers: Int = ProcessInfo.processInfo.activeProcessorCount, limits: DecodeLimits = .default,
                    maxFileBytes: Int = 256 << 20, commitImages: Int = 1024, commitBytes: Int = 64 << 20,
                    followLinks: Bool = false, maxFiles: Int = DatasetScanner.defaultMaxFiles, classesPath: String? = nil,
                    valLabelsPath: String? = nil, labelsCSVPath: String? = nil, labelColumn: String? = nil,
                    lease: Duration = .seconds(300)) {
            self.dataset = dataset
            self.split = split
            self.classNamesPath = classNamesPath
            self.workers = max(1, workers)
            self.limits = limits
            self.maxFileBytes = maxFileBytes
            self.commitImages = max(1, commitImages)
            self.commitBytes = commitBytes
            self.followLinks = followLinks
            self.maxFiles = maxFiles
            self.classesPath = classesPath
            self.valLabelsPath = valLabelsPath
            self.labelsCSVPath = labelsCSVPath
            self.labelColumn = labelColumn
            self.lease = lease
        }
    }

    /// What an ingest will do, worked out from the dataset folder alone: the store is not touched.
    public struct Plan: Sendable {
        public var root: String
        /// Where the files are read from when the plan runs.
        public var source: any IngestSource
        public var scan: DatasetScanner.Result
        var names: [ExactName: (name: String, promptName: String)]
        /// Where the class names came from (a file, or `built-in imagenette`); nil when none.
        public var classNamesSource: String?
        /// The validation labels file used for a flat `val/` folder.
        public var valLabelsPath: String?
        /// Files whose label names a class left out by `--classes`.
        public var skipped: Int
    }

    public let store: Store
    public let options: Options

    public init(store: Store, options: Options) {
        self.store = store
        self.options = options
    }

    /// Walks `root`, labels what it found and reads its class names. Fails (a bad root, a walk
    /// past `maxFiles`, a bad class-names, classes or labels file) before anything is written anywhere.
    public static func plan(root: String, options: Options) throws -> Plan {
        try plan(source: DirectorySource(root: root, followLinks: options.followLinks), options: options)
    }

    /// ``plan(root:options:)`` for any source: the same labelling and class names, from the
    /// files `source` lists and the side files it keeps.
    public static func plan(source: some IngestSource, options: Options) throws -> Plan {
        let root = source.root
        guard !options.dataset.isEmpty else { throw IngestError(.invalidInput, "a dataset name is required (--dataset)") }
        // Named files are read before the walk, so a typo in one fails at once.
        let subset = try options.classesPath.map { try ClassSubset(path: $0) }
        let csv = try options.labelsCSVPath.map { path in
            guard let column = options.labelColumn else { throw IngestError(.invalidInput, "a labels CSV needs a label column (--label-column)", path: path) }
            return try LabelsCSV(path: path, column: column)
        }
        let namedValLabels = try options.valLabelsPath.map { try ValLabels(path: $0) }
        var scan = try source.scan(split: options.split, maxFiles: options.maxFiles, only: subset?.names)
        try subset?.check(found: scan.classes, root: root)
        var labelling = Labelling()
        try labelling.apply(to: &scan, csv: csv) {
            try namedValLabels ?? source.nearbyFile(named: ValLabels.kaggleFileName).map { try ValLabels(path: $0) }
        }
        let names = try classNames(source: source, path: options.classNamesPath, classes: scan.classes)
        return Plan(root: root, source: source, scan: scan, names: names.names, classNamesSource: names.source,
                    valLabelsPath: namedValLabels?.path ?? labelling.valLabelsPath, skipped: labelling.skipped)
    }

    /// Scans `root`, ingests what is new or changed, and returns the summary.
    /// - Parameter progress: called on the writer thread after each handled file (throttle in the sink).
    public func run(root: String, progress: (IngestProgress) -> Void = { _ in }) throws -> IngestSummary {
        try run(Self.plan(root: root, options: options), progress: progress)
    }

    /// Ingests what `source` holds that is new or changed.
    public func run(source: some IngestSource, progress: (IngestProgress) -> Void = { _ in }) throws -> IngestSummary {
        try run(Self.plan(source: source, options: options), progress: progress)
    }

    /// Ingests what `plan` found that is new or changed.
    ///
    /// On a fleet store several processes may ingest one tree at once: they share the files out
    /// through claimed jobs (``ClaimedShares``), and each finishes with a sweep of whatever its
    /// scan holds that is still not in the catalog.
    public func run(_ plan: Plan, progress: (IngestProgress) -> Void = { _ in }) throws -> IngestSummary {
        // The pass holds `progress` only while this call runs.
        try withoutActuallyEscaping(progress) { try run(plan, reporting: $0) }
    }

    private func run(_ plan: Plan, reporting progress: @escaping (IngestProgress) -> Void) throws -> IngestSummary {
        let clock = ContinuousClock.now
        let scan = plan.scan
        let writer = try store.makeWriter()
        var pass = Pass(plan: plan, writer: writer, clock: clock, progress: progress, summary: IngestSummary(
            dataset: options.dataset, root: plan.root, layout: scan.layout, splits: scan.splits.sorted().map(\.string),
            classes: scan.classes.count, files: scan.files.count, added: 0, duplicates: 0, unchanged: 0, updated: 0,
            rejected: scan.rejected, bytesRead: 0, bytesStored: 0, seconds: 0, imagesPerSecond: 0,
            skipped: plan.skipped, classNames: plan.classNamesSource, valLabels: plan.valLabelsPath))
        pass.existing = try ingestedFiles(scan)

        if writer.isShared && plan.source.sharesFiles && scan.files.count > ClaimedShares.filesPerShare {
            let before = pass.existing
            let covered = try ClaimedShares.run(self, pass: &pass)
            // The files of shares this process did not take: in before it started (unchanged),
            // ingested since by another process, or still missing (another scan did not hold
            // them, or a share of an earlier run was done before this scan found them): those go in now.
            pass.existing = try ingestedFiles(scan)
            var missing: [SourceFile] = []
            var elsewhere = 0
            for (index, file) in scan.files.enumerated() where !covered[index] {
                if Pass.unchanged(file, in: before) {
                    pass.summary.unchanged += 1
                    pass.handled += 1
                } else if Pass.unchanged(file, in: pass.existing) {
                    elsewhere += 1
                } else {
                    missing.append(file)
                }
            }
            try ingest(pass.pending(missing[...]), pass: &pass)
            pass.summary.elsewhere = elsewhere
        } else {
            try ingest(pass.pending(scan.files[...]), pass: &pass)
        }

        let elapsed = (ContinuousClock.now - clock) / .seconds(1)
        pass.summary.seconds = elapsed
        pass.summary.imagesPerSecond = elapsed > 0 ? Double(pass.read) / elapsed : 0
        try finishRun(summary: pass.summary, writer: writer, plan: plan, setup: pass.setup)
        return pass.summary
    }

    private func ingestedFiles(_ scan: DatasetScanner.Result) throws -> [ExactName: [ExactName: IngestedFile]] {
        try store.read { snapshot in
            var existing: [ExactName: [ExactName: IngestedFile]] = [:]
            for split in scan.splits {
                existing[split] = try snapshot.datasets.ingestedFiles(dataset: options.dataset, split: split.string)
            }
            return existing
        }
    }

    /// One ingest's state while it runs: the catalog rows made so far, the counts, what it found
    /// already ingested when it looked.
    struct Pass {
        let plan: Plan
        let writer: StoreWriter
        let clock: ContinuousClock.Instant
        let progress: (IngestProgress) -> Void
        var summary: IngestSummary
        var existing: [ExactName: [ExactName: IngestedFile]] = [:]
        /// Created by the first commit, in its transaction (on a fleet store with shares, first).
        var setup: Setup? = nil
        /// Files read and checked.
        var read = 0
        /// Files this process handled: read, or found unchanged.
        var handled = 0

        /// The files of `files` that are new or changed, each with what the catalog holds for
        /// its path; the unchanged ones are counted and left out.
        mutating func pending(_ files: ArraySlice<SourceFile>) -> [(file: SourceFile, previous: IngestedFile?)] {
            var work: [(file: SourceFile, previous: IngestedFile?)] = []
            for file in files {
                if Self.unchanged(file, in: existing) {
                    summary.unchanged += 1
                    handled += 1
                } else {
                    work.append((file, existing[ExactName(file.split)]?[ExactName(file.path)]))
                }
            }
            return work
        }

        /// Whether `existing` holds `file` as it is now: same size, modification time and class.
        static func unchanged(_ file: SourceFile, in existing: [ExactName: [ExactName: IngestedFile]]) -> Bool {
            guard let previous = existing[ExactName(file.split)]?[ExactName(file.path)] else { return false }
            return previous.size == file.size && previous.mtimeNanoseconds == file.mtimeNanoseconds
                && ExactName(previous.wnid) == ExactName(file.wnid)
        }
    }

    /// Reads, checks and commits `work` (on all cores, committing in batches, in order).
    ///
    /// Files are staged (CRC'd and appended to the shard) in small groups as they arrive, so the
    /// appends overlap the workers' decoding and a commit is left with the fdatasync and the
    /// catalog transaction alone; staging a whole batch at its commit stalled the workers once
    /// their window filled.
    func ingest(_ work: [(file: SourceFile, previous: IngestedFile?)], pass: inout Pass) throws {
        guard !work.isEmpty else { return }
        let files = work.map(\.file)
        let limits = options.limits, maxFileBytes = options.maxFileBytes, source = pass.plan.source
        let map = OrderedParallelMap<FileOutcome>(count: files.count, workers: options.workers, window: 512) {
            let validator = try? ImageValidator(limits: limits)
            return { index in FileOutcome.examine(files[index], from: source, validator: validator, maxFileBytes: maxFileBytes) }
        }
        defer { map.cancel() }

        var group: [(checked: CheckedImage, previous: IngestedFile?)] = []
        var staged = StagedBatch()
        var batchImages = 0, batchBytes = 0, done = 0
        func failing<T>(_ body: () throws -> T) throws -> T {
            do {
                return try body()
            } catch {
                failRun(setup: pass.setup, writer: pass.writer, error: error)
                throw error
            }
        }
        func stageGroup() throws {
            guard !group.isEmpty else { return }
            try failing { try stage(group, writer: pass.writer, into: &staged) }
            group.removeAll(keepingCapacity: true)
        }
        func flush() throws {
            try stageGroup()
            guard batchImages > 0 else { return }
            try failing { try commit(staged, writer: pass.writer, plan: pass.plan, setup: &pass.setup, summary: &pass.summary) }
            staged = StagedBatch()
            batchImages = 0
            batchBytes = 0
        }
        let total = pass.writer.isShared ? pass.plan.scan.files.count : files.count
        while let outcome = map.next() {
            let previous = work[done].previous
            done += 1
            pass.read += 1
            pass.handled += 1
            switch outcome {
            case .rejected(let rejection):
                pass.summary.rejected.append(rejection)
            case .image(let checked):
                pass.summary.bytesRead += checked.bytes.count
                group.append((checked, previous))
                batchImages += 1
                batchBytes += checked.bytes.count
                if batchImages >= options.commitImages || batchBytes >= options.commitBytes {
                    try flush()
                } else if group.count >= Self.stagingGroup {
                    try stageGroup()
                }
            }
            pass.progress(IngestProgress(done: pass.writer.isShared ? pass.handled : done, total: total, bytes: pass.summary.bytesRead,
                                         seconds: (ContinuousClock.now - pass.clock) / .seconds(1)))
        }
        try flush()
    }

    /// Files looked up in the catalog and staged together: one query per group (a round trip on
    /// a fleet store), small enough that appends keep pace with the decoding.
    public static let stagingGroup = 64

    /// What the next commit holds: the rows staged since the last one and their counts.
    struct StagedBatch {
        var blobIDs: StoreWriter.BlobIDs = [:]
        var newInBatch: Set<Digest> = []
        var rows: [StagedRow] = []
        var touched: [(id: Int64, mtime: Int64)] = []
        var added = 0, duplicates = 0, updated = 0, unchanged = 0
        var bytesStored = 0
    }

    /// A file's catalog row in waiting; its bytes are in the writer by then.
    struct StagedRow {
        var file: SourceFile
        var digest: Digest
        var info: ImageInfo
    }

    /// Looks `group` up in the catalog and appends the bytes of what it does not hold yet.
    private func stage(_ group: [(checked: CheckedImage, previous: IngestedFile?)], writer: StoreWriter,
                       into staged: inout StagedBatch) throws {
        let unknown = group.map(\.checked.digest).filter { staged.blobIDs[$0] == nil && !staged.newInBatch.contains($0) }
        staged.blobIDs.merge(try writer.committedBlobIDs(unknown)) { old, _ in old }
        let before = writer.pendingBytes
        for (checked, previous) in group {
            if let previous, previous.digest == checked.digest, ExactName(previous.wnid) == ExactName(checked.file.wnid) {
                // Same content, new mtime: remember the mtime so the next run skips the file unread.
                staged.touched.append((previous.id, checked.file.mtimeNanoseconds))
                staged.unchanged += 1
                continue
            }
            if staged.blobIDs[checked.digest] == nil && !staged.newInBatch.contains(checked.digest) {
                try checked.bytes.withUnsafeBytes { raw in
                    _ = try writer.stage(raw, digest: checked.digest, mediaType: checked.info.format.mediaType)
                }
                staged.newInBatch.insert(checked.digest)
                if previous == nil { staged.added += 1 }
            } else if previous == nil {
                staged.duplicates += 1
            }
            if previous != nil { staged.updated += 1 }
            staged.rows.append(StagedRow(file: checked.file, digest: checked.digest, info: checked.info))
        }
        staged.bytesStored += writer.pendingBytes - before
    }

    /// Makes the staged bytes durable and commits their rows in one transaction.
    private func commit(_ staged: StagedBatch, writer: StoreWriter, plan: Plan, setup: inout Setup?,
                        summary: inout IngestSummary) throws {
        let known = setup
        setup = try writer.transaction { tx in
            let prepared = try known ?? Setup(tx: tx, options: options, plan: plan)
            let datasets = tx.datasets, newIDs = tx.newBlobIDs
            try datasets.upsertRealImages(try staged.rows.map { row in
                guard let blobID = staged.blobIDs[row.digest] ?? newIDs[row.digest],
                      let split = prepared.splitIDs[ExactName(row.file.split)],
                      let classRecord = prepared.classes[ExactName(row.file.wnid)] else {
                    throw IngestError(.internal, "internal: no blob, split or class for \(row.file.path)")
                }
                return RealImageRow(
                    splitID: split, classID: classRecord.id, blobID: blobID, path: row.file.path, name: row.file.name,
                    width: row.info.width, height: row.info.height, format: row.info.format.rawValue,
                    colorSpace: row.info.colorSpace.rawValue, fileSize: row.file.size,
                    mtimeNanoseconds: row.file.mtimeNanoseconds)
            })
            for (id, mtime) in staged.touched { try datasets.touchRealImage(id: id, mtimeNanoseconds: mtime) }
            return prepared
        }
        summary.added += staged.added
        summary.duplicates += staged.duplicates
        summary.updated += staged.updated
        summary.unchanged += staged.unchanged
        summary.bytesStored += staged.bytesStored
    }

    private static func classNames(source: some IngestSource, path: String?, classes: Set<ExactName>) throws
        -> (names: [ExactName: (name: String, promptName: String)], source: String?) {
        if let path { return (try ClassNamesFile(path: path).names, path) }
        if let nearby = source.nearbyFile(named: "LOC_synset_mapping.txt") {
            return (try ClassNamesFile(path: nearby).names, nearby)
        }
        if let names = source.classNames, !names.isEmpty { return (names, "the shards' json") }
        if let table = KnownClassNames.table(for: classes) { return (table.names, "built-in " + table.name) }
        return ([:], nil)
    }

    /// Records the summary; a run that committed no images creates its dataset rows here.
    private func finishRun(summary: IngestSummary, writer: StoreWriter, plan: Plan, setup: Setup?) throws {
        var recorded = summary
        // Keep the run row small: the first rejections and their count are enough to look back on.
        recorded.rejected = Array(summary.rejected.prefix(100))
        let json = try CanonicalJSON.text(recorded)
        do {
            try writer.transaction { tx in
                let prepared = try setup ?? Setup(tx: tx, options: options, plan: plan)
                try tx.runs.finish(id: prepared.runID, summary: json)
            }
        } catch {
            failRun(setup: setup, writer: writer, error: error)
            throw error
        }
    }

    /// Marks the run failed once a commit throws, so the ledger does not show it running; an
    /// ingest that committed nothing has no run to mark. Best effort: the first error is what
    /// the caller sees, and running the ingest again picks up where it stopped either way.
    private func failRun(setup: Setup?, writer: StoreWriter, error: any Error) {
        guard let runID = setup?.runID else { return }
        _ = try? writer.transaction { tx in try tx.runs.fail(id: runID, message: "\(error)") }
    }
}

/// The catalog side of an ingest: the dataset, its splits and classes, and the run row. Made in
/// the transaction of the first commit.
struct Setup {
    var datasetID: Int64
    var splitIDs: [ExactName: Int64] = [:]
    var classes: [ExactName: ClassRecord] = [:]
    var runID: Int64

    init(tx: any CatalogTransaction, options: Ingestor.Options, plan: Ingestor.Plan) throws {
        let datasets = tx.datasets
        datasetID = try datasets.ensureDataset(named: options.dataset)
        for split in plan.scan.splits {
            splitIDs[split] = try datasets.ensureSplit(named: split.string, of: datasetID)
        }
        classes = try datasets.ensureClasses(of: datasetID, wnids: plan.scan.classes, names: plan.names)
        let config: [String: String] = [
            "root": plan.root, "split": options.split ?? "", "layout": plan.scan.layout, "class_names": plan.classNamesSource ?? "",
            "classes": options.classesPath ?? "", "val_labels": plan.valLabelsPath ?? "", "labels_csv": options.labelsCSVPath ?? "",
            "label_column": options.labelColumn ?? "",
        ]
        let json = try CanonicalJSON.text(config)
        runID = try tx.runs.begin(stage: .ingest, datasetID: datasetID, parentID: nil, config: json)
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
    static func examine(_ file: SourceFile, from source: some IngestSource, validator: ImageValidator?, maxFileBytes: Int) -> FileOutcome {
        guard let validator else { return .rejected(Rejection(path: file.path, reason: "cannot create a JPEG decoder")) }
        if file.size > maxFileBytes {
            return .rejected(Rejection(path: file.path, reason: "file is \(file.size) bytes, over the \(maxFileBytes)-byte limit"))
        }
        let bytes: [UInt8]
        do {
            bytes = try source.contents(of: file)
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
