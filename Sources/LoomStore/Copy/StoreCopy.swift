/// Copies datasets, with their captions, prompts and synthetic images, from one store into
/// another: embedded to fleet, fleet to embedded, or between two of either kind.
///
/// Everything goes through the repositories and the blob reader on both sides, so the copy
/// knows no engine. Rows are matched by their natural keys (dataset and split names, class
/// wnids, a real image's split and path, a captioner's name and params, a prompt's strategy,
/// template, class and caption, a synthetic image's prompt, generator and sampling settings)
/// and ids are remapped; bytes are matched by digest, so a blob the target already has is never
/// read or written again and a second copy writes nothing. Each batch's bytes and rows commit
/// in one target transaction, in the target writer's crash-safe order, so a copy killed at any
/// point leaves a target that verifies and a rerun that picks up where it stopped.
///
/// What stays behind: runs (with their jobs, epochs and checkpoints) are the history of work done
/// against one catalog, and pixel caches are derived data (`loom cache build` makes them again).
public final class StoreCopy {
    public struct Summary: Encodable, Sendable, Equatable {
        public var datasets: [String] = []
        public var realImages = 0
        public var captions = 0
        public var prompts = 0
        public var synthetic = 0
        /// Blobs whose bytes were written to the target.
        public var blobsCopied = 0
        /// Their original size.
        public var bytesCopied: Int64 = 0
        /// Blobs the target held already (content-addressed: not copied again).
        public var blobsPresent = 0

        enum CodingKeys: String, CodingKey {
            case datasets, captions, prompts, synthetic
            case realImages = "real_images"
            case blobsCopied = "blobs_copied"
            case bytesCopied = "bytes_copied"
            case blobsPresent = "blobs_present"
        }
    }

    /// Where a copy is: `phase` is "real images", "captions", "prompts" or "synthetic images".
    public struct Progress: Sendable {
        public var dataset: String
        public var phase: String
        public var done: Int
        public var total: Int
    }

    let source: Store
    let target: Store
    let writer: StoreWriter
    let progress: (Progress) -> Void
    /// A batch commits when it holds this many rows or this many bytes to write.
    let batchRows = 512
    let batchBytes = 64 << 20
    private(set) var summary = Summary()

    /// - Throws: `invalid-input` when both name the same store.
    public init(from source: Store, to target: Store, progress: @escaping (Progress) -> Void = { _ in }) throws {
        if source.identity == target.identity {
            throw StoreError(.invalidArgument, "--to names the store being copied (\(source.identity)); name another store")
        }
        self.source = source
        self.target = target
        writer = try target.makeWriter()
        self.progress = progress
    }

    /// Copies the named datasets, or every dataset when `datasets` is nil.
    public func run(datasets: [String]?) throws -> Summary {
        let names = try datasets ?? source.read { try $0.datasets.datasetNames() }
        for name in names { try copy(dataset: name) }
        return summary
    }

    private func copy(dataset name: String) throws {
        let plan = try source.read { snapshot -> DatasetPlan in
            let dataset = try snapshot.datasets.requireDataset(named: name)
            let classes = try snapshot.datasets.classes(of: dataset.id)
            var images = 0
            var splits: [String] = []
            for split in try snapshot.datasets.splitNames(of: dataset.id) {
                splits.append(split)
                images += try snapshot.datasets.split(named: split, of: dataset.id).map { try snapshot.datasets.realImageCount(of: $0.id) } ?? 0
            }
            return DatasetPlan(id: dataset.id, classes: classes, splits: splits, images: images)
        }
        let targetDataset = try copyClasses(name, plan)
        let imageIDs = try copyRealImages(name, plan, into: targetDataset)
        let captionIDs = try copyCaptions(name, plan, imageIDs: imageIDs)
        let promptIDs = try copyPrompts(name, plan, into: targetDataset, captionIDs: captionIDs)
        try copySynthetic(name, promptIDs: promptIDs)
        summary.datasets.append(name)
    }

    private struct DatasetPlan {
        var id: Int64
        var classes: [ClassRecord]
        var splits: [String]
        var images: Int
    }

    /// The target's dataset row and class ids by source class id. Classes are added one at a
    /// time in the source's label order, so a new dataset gets the source's labels; a target
    /// that already numbers a class differently is a conflict, since labels are what a model learns.
    private struct TargetDataset {
        var id: Int64
        var classIDs: [Int64: Int64]
        var splitIDs: [String: Int64]
    }

    private func copyClasses(_ name: String, _ plan: DatasetPlan) throws -> TargetDataset {
        try writer.transaction { tx in
            let datasetID = try tx.datasets.ensureDataset(named: name)
            var splitIDs: [String: Int64] = [:]
            for split in plan.splits { splitIDs[split] = try tx.datasets.ensureSplit(named: split, of: datasetID) }
            var classIDs: [Int64: Int64] = [:]
            for source in plan.classes {
                let wnid = ExactName(source.wnid)
                let made = try tx.datasets.ensureClasses(of: datasetID, wnids: [wnid], names: [wnid: (source.name, source.promptName)])
                guard let record = made[wnid] else { throw StoreError(.corrupt, "class \(source.wnid) of \(name) was not made") }
                if record.label != source.label {
                    throw StoreError(.conflict, """
                        dataset \(name): class \(source.wnid) is label \(source.label) in the source but \(record.label) in the target; \
                        copy into a store without this dataset, or `loom rm --dataset \(name)` there first
                        """)
                }
                classIDs[source.id] = record.id
            }
            return TargetDataset(id: datasetID, classIDs: classIDs, splitIDs: splitIDs)
        }
    }

    /// Copies the real images; returns the target's real image id by the source's.
    private func copyRealImages(_ name: String, _ plan: DatasetPlan, into dataset: TargetDataset) throws -> [Int64: Int64] {
        var present: [String: [ExactName: IngestedFile]] = [:]
        for split in plan.splits { present[split] = try target.read { try $0.datasets.ingestedFiles(dataset: name, split: split) } }
        var keys: [Int64: (split: String, path: ExactName)] = [:]
        var batch: [StoredRealImage] = []
        var done = 0
        let wnidClass = Dictionary(uniqueKeysWithValues: plan.classes.map { ($0.wnid, $0.id) })
        func flush() throws {
            let mediaTypes = Dictionary(batch.map { ($0.digest, $0.mediaType) }, uniquingKeysWith: { first, _ in first })
            let (bytes, committed) = try stageMissing(mediaTypes)
            try writer.transaction { tx in
                try tx.datasets.upsertRealImages(try batch.map { image in
                    guard let blobID = tx.newBlobIDs[image.digest] ?? committed[image.digest],
                          let splitID = dataset.splitIDs[image.split],
                          let classID = wnidClass[image.wnid].flatMap({ dataset.classIDs[$0] }) else {
                        throw StoreError(.corrupt, "real image \(image.path) of \(name): its blob, split or class was not copied")
                    }
                    return RealImageRow(
                        splitID: splitID, classID: classID, blobID: blobID, path: image.path, name: image.name, width: image.width,
                        height: image.height, format: image.format, colorSpace: image.colorSpace, fileSize: image.fileSize,
                        mtimeNanoseconds: image.mtimeNanoseconds)
                })
            }
            summary.bytesCopied += bytes
            done += batch.count
            batch.removeAll(keepingCapacity: true)
            progress(Progress(dataset: name, phase: "real images", done: done, total: plan.images))
        }
        // Pages, each its own snapshot, and nothing read from the source's blobs while one is open:
        // the embedded reader's pool does not nest reads.
        var pendingBytes = 0, lastID: Int64 = 0
        while true {
            let page = try source.read { try $0.datasets.storedRealImages(of: plan.id, after: lastID, limit: 2000) }
            guard let last = page.last else { break }
            lastID = last.id
            for image in page {
                let path = ExactName(image.path)
                keys[image.id] = (image.split, path)
                summary.realImages += 1
                if let there = present[image.split]?[path], there.digest == image.digest, there.wnid == image.wnid,
                   there.size == image.fileSize, there.mtimeNanoseconds == image.mtimeNanoseconds {
                    done += 1
                    continue
                }
                batch.append(image)
                pendingBytes += image.fileSize
                if batch.count >= batchRows || pendingBytes >= batchBytes {
                    try flush()
                    pendingBytes = 0
                }
            }
        }
        if !batch.isEmpty { try flush() }
        progress(Progress(dataset: name, phase: "real images", done: plan.images, total: plan.images))

        var ids: [Int64: Int64] = [:]
        for split in plan.splits {
            let files = try target.read { try $0.datasets.ingestedFiles(dataset: name, split: split) }
            for (sourceID, key) in keys where key.split == split {
                if let file = files[key.path] { ids[sourceID] = file.id }
            }
        }
        return ids
    }

    /// Stages the bytes of those blobs (digest: media type) the target lacks, read from the
    /// source and checked against their digests there. Returns the bytes staged and the target's
    /// ids of the blobs it has; the staged ones get theirs from the transaction that commits them.
    private func stageMissing(_ blobs: [Digest: String]) throws -> (bytes: Int64, committed: StoreWriter.BlobIDs) {
        let committed = try writer.committedBlobIDs(blobs.keys)
        summary.blobsPresent += committed.count
        var bytes: Int64 = 0
        for (digest, mediaType) in blobs.sorted(by: { $0.key.hex < $1.key.hex }) where committed[digest] == nil {
            let data = try source.blobs.read(digest: digest)
            try data.withUnsafeBytes { _ = try writer.stage($0, digest: digest, mediaType: mediaType) }
            summary.blobsCopied += 1
            bytes += Int64(data.count)
        }
        return (bytes, committed)
    }

    /// Copies the captions of the dataset's images; returns the target's caption id by the source's.
    private func copyCaptions(_ name: String, _ plan: DatasetPlan, imageIDs: [Int64: Int64]) throws -> [Int64: Int64] {
        let captions = try source.read { try $0.captions.captionDetails(of: plan.id) }
        var captioners: [String: Int64] = [:]
        var ids: [Int64: Int64] = [:]
        for start in stride(from: 0, to: captions.count, by: 2000) {
            let batch = captions[start..<min(start + 2000, captions.count)]
            try writer.transaction { tx in
                for caption in batch {
                    let key = caption.captioner + "\u{0}" + caption.captionerParams + "\u{0}" + caption.captionerBackend
                    let captionerID = try captioners[key] ?? tx.captions.ensureCaptioner(
                        name: caption.captioner, params: caption.captionerParams, backend: caption.captionerBackend)
                    captioners[key] = captionerID
                    guard let imageID = imageIDs[caption.realImageID] else {
                        throw StoreError(.corrupt, "caption \(caption.id) of \(name): its image \(caption.path) was not copied")
                    }
                    ids[caption.id] = try tx.captions.putCaption(realImageID: imageID, captionerID: captionerID,
                                                                 text: caption.text, seconds: caption.seconds)
                }
            }
            progress(Progress(dataset: name, phase: "captions", done: start + batch.count, total: captions.count))
        }
        summary.captions += captions.count
        return ids
    }

    /// Copies the dataset's prompts; returns the target's prompt id by the source's.
    private func copyPrompts(_ name: String, _ plan: DatasetPlan, into dataset: TargetDataset,
                                      captionIDs: [Int64: Int64]) throws -> [Int64: Int64] {
        let prompts = try source.read { try $0.prompts.prompts(of: plan.id, strategy: nil) }
        var ids: [Int64: Int64] = [:]
        for start in stride(from: 0, to: prompts.count, by: 2000) {
            let batch = prompts[start..<min(start + 2000, prompts.count)]
            try writer.transaction { tx in
                for prompt in batch {
                    var row = prompt.row
                    guard let classID = dataset.classIDs[row.classID] else {
                        throw StoreError(.corrupt, "prompt \(prompt.id) of \(name): its class was not copied")
                    }
                    row.datasetID = dataset.id
                    row.classID = classID
                    if let caption = row.captionID {
                        guard let mapped = captionIDs[caption] else {
                            throw StoreError(.corrupt, "prompt \(prompt.id) of \(name): its caption \(caption) was not copied")
                        }
                        row.captionID = mapped
                    }
                    ids[prompt.id] = try tx.prompts.ensurePrompt(row)
                }
            }
            progress(Progress(dataset: name, phase: "prompts", done: start + batch.count, total: prompts.count))
        }
        summary.prompts += prompts.count
        return ids
    }

    /// Copies the synthetic images made from the dataset's prompts, with their generators.
    private func copySynthetic(_ name: String, promptIDs: [Int64: Int64]) throws {
        let (all, generators) = try source.read { (try $0.synthetic.syntheticImages(), try $0.synthetic.generators()) }
        let images = all.filter { promptIDs[$0.row.promptID] != nil }
        let generatorByID = Dictionary(uniqueKeysWithValues: generators.map { ($0.id, $0) })
        var targetGenerators: [Int64: Int64] = [:]
        var done = 0
        var index = 0
        while index < images.count {
            var batch: [(SyntheticRecord, SyntheticRow)] = []
            var bytes = 0
            while index < images.count, batch.count < batchRows, bytes < batchBytes {
                let image = images[index]
                index += 1
                guard let generator = generatorByID[image.row.generatorID] else {
                    throw StoreError(.corrupt, "synthetic image \(image.id) names generator \(image.row.generatorID), which is not in the source catalog")
                }
                let generatorID = try targetGenerators[generator.id] ?? writer.transaction {
                    try $0.synthetic.ensureGenerator(name: generator.name, version: generator.version,
                                                     params: generator.params, backend: generator.backend)
                }
                targetGenerators[generator.id] = generatorID
                var row = image.row
                row.promptID = promptIDs[image.row.promptID]!
                row.generatorID = generatorID
                let key = SyntheticKey(promptID: row.promptID, generatorID: generatorID, seed: row.seed, steps: row.steps,
                                       guidance: row.guidance, width: row.width, height: row.height)
                if try target.read({ try $0.synthetic.contains(key) }) {
                    done += 1
                    continue
                }
                batch.append((image, row))
                bytes += row.width * row.height
            }
            let mediaTypes = try source.read { snapshot in
                try Dictionary(batch.map { ($0.0.digest, try snapshot.blobs.blob($0.0.digest)?.mediaType ?? "application/octet-stream") },
                               uniquingKeysWith: { first, _ in first })
            }
            let (staged, committed) = try stageMissing(mediaTypes)
            try writer.transaction { tx in
                for (image, var row) in batch {
                    guard let blobID = tx.newBlobIDs[image.digest] ?? committed[image.digest] else {
                        throw StoreError(.corrupt, "synthetic image \(image.id) of \(name): its blob was not copied")
                    }
                    row.blobID = blobID
                    try tx.synthetic.putSynthetic(row)
                }
            }
            summary.bytesCopied += staged
            done += batch.count
            progress(Progress(dataset: name, phase: "synthetic images", done: done, total: images.count))
        }
        summary.synthetic += images.count
    }

}
