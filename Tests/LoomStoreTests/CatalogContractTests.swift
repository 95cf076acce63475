import Foundation
import LoomStore
import LoomTestSupport
import Testing

// The repository contract: what every catalog backend must do, written against the protocols
// only (a plain `import LoomStore`, no GRDB, no SQL). A PostgreSQL backend joins by adding a
// ``CatalogBackend`` to `CatalogBackend.all`; every test below then runs against it too.

/// A fresh, empty catalog under test, with the one thing the protocols leave to the backend's
/// blob side: committing blob bytes.
protocol ContractCatalog: AnyObject {
    var reader: any CatalogReader { get }
    var writer: any CatalogWriter { get }
    /// Stores `bytes` as a committed blob and returns its digest.
    func commitBlob(_ bytes: [UInt8], mediaType: String) throws -> Digest
}

struct CatalogBackend: Sendable, CustomTestStringConvertible {
    var name: String
    var make: @Sendable () throws -> any ContractCatalog
    var testDescription: String { name }

    static let all: [CatalogBackend] = [.sqlite] + postgresIfAvailable

    static let sqlite = CatalogBackend(name: "sqlite") { try SQLiteContractCatalog() }
}

/// The embedded backend: a store in a temporary directory. Properties go in declaration order,
/// so the writer and the store close before the directory is removed.
final class SQLiteContractCatalog: ContractCatalog {
    private let storeWriter: StoreWriter
    private let store: Store
    private let directory: TemporaryDirectory

    init() throws {
        directory = try TemporaryDirectory(prefix: "loom-contract-")
        store = try Store(StoreLayout(root: directory.appending("store")), access: .readWrite)
        storeWriter = try store.makeWriter()
    }

    var reader: any CatalogReader { store.reader }
    var writer: any CatalogWriter { storeWriter }

    func commitBlob(_ bytes: [UInt8], mediaType: String) throws -> Digest {
        let digest = Digest.sha256(bytes)
        try bytes.withUnsafeBytes { _ = try storeWriter.stage($0, digest: digest, mediaType: mediaType) }
        try storeWriter.transaction { _ in }
        return digest
    }
}

/// A small dataset every test starts from: "pets" with splits train and val, classes cat (label
/// 0) and dog (label 1), three real images.
struct Pets {
    var datasetID: Int64
    var trainID: Int64
    var valID: Int64
    var cat: ClassRecord
    var dog: ClassRecord
    /// Digests of train/cat/1.jpg, train/dog/2.jpg, val/cat/3.jpg.
    var images: [Digest]

    init(_ catalog: any ContractCatalog) throws {
        let paths = [("train", "cat", "train/cat/1.jpg"), ("train", "dog", "train/dog/2.jpg"), ("val", "cat", "val/cat/3.jpg")]
        images = try paths.indices.map { try catalog.commitBlob(Array("image \($0)".utf8), mediaType: "image/jpeg") }
        let digests = images
        (datasetID, trainID, valID, cat, dog) = try catalog.writer.transaction { tx in
            let dataset = try tx.datasets.ensureDataset(named: "pets")
            let train = try tx.datasets.ensureSplit(named: "train", of: dataset)
            let val = try tx.datasets.ensureSplit(named: "val", of: dataset)
            let classes = try tx.datasets.ensureClasses(
                of: dataset, wnids: [ExactName("dog"), ExactName("cat")],
                names: [ExactName("cat"): (name: "house cat", promptName: "cat")])
            for (index, (split, wnid, path)) in paths.enumerated() {
                let blob = try #require(try tx.snapshot.blobs.blob(digests[index]))
                try tx.datasets.upsertRealImage(RealImageRow(
                    splitID: split == "train" ? train : val, classID: classes[ExactName(wnid)]!.id, blobID: blob.id, path: path,
                    name: "\(index + 1).jpg", width: 64, height: 48, format: "jpeg", colorSpace: "rgb", fileSize: 7,
                    mtimeNanoseconds: 1))
            }
            return (dataset, train, val, classes[ExactName("cat")]!, classes[ExactName("dog")]!)
        }
    }
}

/// The error's code in the common set, or nil when it has none.
func code(of body: () throws -> Void) -> LoomErrorCode? {
    do {
        try body()
        return nil
    } catch let error as any CodedError {
        return error.errorCode
    } catch {
        return .internal
    }
}

@Suite("Catalog repository contract")
struct CatalogContractTests {
    @Test("datasets, splits and classes: lookups, labels in wnid order, not-found naming what exists", arguments: CatalogBackend.all)
    func datasets(_ backend: CatalogBackend) throws {
        let catalog = try backend.make()
        let pets = try Pets(catalog)
        #expect(pets.cat.label == 0 && pets.dog.label == 1)
        #expect(pets.cat.name == "house cat" && pets.cat.promptName == "cat" && pets.dog.name == "dog")
        try catalog.reader.read { c throws in
            #expect(try c.datasets.dataset(named: "pets") == DatasetRecord(id: pets.datasetID, name: "pets"))
            #expect(try c.datasets.dataset(named: "nope") == nil)
            #expect(try c.datasets.datasetNames() == ["pets"])
            #expect(try c.datasets.split(named: "val", of: pets.datasetID)?.id == pets.valID)
            #expect(try c.datasets.classes(of: pets.datasetID).map(\.wnid) == ["cat", "dog"])
            for name in ["cat", "house cat"] { #expect(try c.datasets.classID(matching: name, in: pets.datasetID) == pets.cat.id) }
            #expect(try c.datasets.classID(matching: "bird", in: pets.datasetID) == nil)

            let missing = #expect(throws: StoreError.self) { try c.datasets.requireDataset(named: "nope") }
            #expect(missing?.errorCode == .notFound && missing?.message == "no dataset named \"nope\" (datasets: pets)")
            let dataset = try c.datasets.requireDataset(named: "pets")
            #expect(code { _ = try c.datasets.requireSplit(named: "test", of: dataset) } == .notFound)

            let summaries = try c.datasets.classSummaries(dataset: "pets", countSynthetic: true)
            #expect(summaries.map(\.class.wnid) == ["cat", "dog"] && summaries.map(\.images) == [2, 1])
            #expect(code { _ = try c.datasets.classSummaries(dataset: "nope", countSynthetic: false) } == .notFound)
            #expect(try c.datasets.derivedCounts()["pets"] == DerivedCounts())
        }
    }

    @Test("real images: filters, paging in (dataset, split, path) order, streaming, ingested files", arguments: CatalogBackend.all)
    func realImages(_ backend: CatalogBackend) throws {
        let catalog = try backend.make()
        let pets = try Pets(catalog)
        try catalog.reader.read { c throws in
            let all = try c.datasets.realImages(RealImageFilter(), offset: 0, limit: 10)
            #expect(all.map(\.path) == ["train/cat/1.jpg", "train/dog/2.jpg", "val/cat/3.jpg"])
            #expect(all.map(\.digest) == pets.images.map(\.hex))
            #expect(all[0].class == "cat" && all[1].label == 1 && all[0].bytes == 7 && all[0].width == 64)
            #expect(try c.datasets.realImages(RealImageFilter(), offset: 1, limit: 1).map(\.path) == ["train/dog/2.jpg"])
            #expect(try c.datasets.realImages(RealImageFilter(dataset: "pets", className: "house cat"), offset: 0, limit: 10)
                .map(\.path) == ["train/cat/1.jpg", "val/cat/3.jpg"])
            var streamed: [String] = []
            try c.datasets.forEachRealImage(RealImageFilter(dataset: "pets", split: "val")) { streamed.append($0.path) }
            #expect(streamed == ["val/cat/3.jpg"])
            #expect(code { _ = try c.datasets.realImages(RealImageFilter(dataset: "pets", split: "test"), offset: 0, limit: 1) } == .notFound)
            #expect(code { try c.datasets.forEachRealImage(RealImageFilter(dataset: "nope")) { _ in } } == .notFound)

            let files = try c.datasets.ingestedFiles(dataset: "pets", split: "train")
            #expect(files.count == 2 && files[ExactName("train/dog/2.jpg")]?.digest == pets.images[1])
            #expect(try c.datasets.ingestedFiles(dataset: "nope", split: "train").isEmpty)
            let thumbs = try c.datasets.realThumbnails(of: pets.datasetID, perClass: 1)
            #expect(thumbs.map(\.title) == ["train/cat/1.jpg", "train/dog/2.jpg"])
        }
        let deleted = try catalog.writer.transaction { try $0.datasets.delete(dataset: "pets", split: "train") }
        #expect(deleted == 2)
        #expect(try catalog.reader.read { try $0.datasets.realImages(RealImageFilter(), offset: 0, limit: 10).count } == 1)
        #expect(code { try catalog.writer.transaction { _ = try $0.datasets.delete(dataset: "nope", split: nil) } } == .notFound)
    }

    @Test("real images whole (what loom copy reads): split names, pages in id order, many upserted in one call", arguments: CatalogBackend.all)
    func storedRealImages(_ backend: CatalogBackend) throws {
        let catalog = try backend.make()
        let pets = try Pets(catalog)
        let (first, rest) = try catalog.reader.read { c throws in
            #expect(try c.datasets.splitNames(of: pets.datasetID) == ["train", "val"])
            let first = try c.datasets.storedRealImages(of: pets.datasetID, after: 0, limit: 2)
            let rest = try c.datasets.storedRealImages(of: pets.datasetID, after: first.last?.id ?? 0, limit: 10)
            return (first, rest)
        }
        #expect((first + rest).map(\.path) == ["train/cat/1.jpg", "train/dog/2.jpg", "val/cat/3.jpg"])
        #expect((first + rest).map(\.digest) == pets.images && (first + rest).map(\.split) == ["train", "train", "val"])
        let image = try #require(first.first)
        #expect(image.wnid == "cat" && image.mediaType == "image/jpeg" && image.colorSpace == "rgb" && image.fileSize == 7
                && image.mtimeNanoseconds == 1 && image.width == 64 && image.name == "1.jpg")

        // One call: a new row and a changed one (the dog image now points at the cat's bytes).
        try catalog.writer.transaction { tx in
            let catBlob = try #require(try tx.snapshot.blobs.blob(pets.images[0]))
            try tx.datasets.upsertRealImages([
                RealImageRow(splitID: pets.valID, classID: pets.dog.id, blobID: catBlob.id, path: "val/dog/9.jpg", name: "9.jpg",
                             width: 8, height: 6, format: "jpeg", colorSpace: "gray", fileSize: 3, mtimeNanoseconds: 5),
                RealImageRow(splitID: pets.trainID, classID: pets.dog.id, blobID: catBlob.id, path: "train/dog/2.jpg", name: "2.jpg",
                             width: 64, height: 48, format: "jpeg", colorSpace: "rgb", fileSize: 7, mtimeNanoseconds: 2),
            ])
        }
        let after = try catalog.reader.read { try $0.datasets.storedRealImages(of: pets.datasetID, after: 0, limit: 10) }
        #expect(after.count == 4 && after.first { $0.path == "train/dog/2.jpg" }?.digest == pets.images[0])
        #expect(after.first { $0.path == "val/dog/9.jpg" }.map { ($0.split, $0.wnid, $0.colorSpace) } ?? ("", "", "") == ("val", "dog", "gray"))
    }

    @Test("blobs: full digests, unique prefixes, ambiguous and unknown ones", arguments: CatalogBackend.all)
    func blobs(_ backend: CatalogBackend) throws {
        let catalog = try backend.make()
        let pets = try Pets(catalog)
        try catalog.reader.read { c throws in
            let blob = try #require(try c.blobs.blob(pets.images[0]))
            #expect(blob.mediaType == "image/jpeg" && blob.location.rawSize == 7 && blob.location.digest == pets.images[0])
            #expect(try c.blobs.blob(Digest.sha256([1, 2, 3])) == nil)
            #expect(try c.blobs.resolve(String(pets.images[2].hex.prefix(12)).uppercased()) == pets.images[2])
            #expect(try c.blobs.resolve(pets.images[1].hex) == pets.images[1])
            #expect(code { _ = try c.blobs.resolve("xyz") } == .invalidInput)
            let unknown = pets.images.map(\.hex).contains { $0.hasPrefix("0000") } ? "ffff" : "0000"
            #expect(code { _ = try c.blobs.resolve(unknown) } == .notFound)
        }
    }

    @Test("samples: a split's images in path order with labels, then with their pixel-cache images", arguments: CatalogBackend.all)
    func samples(_ backend: CatalogBackend) throws {
        let catalog = try backend.make()
        let pets = try Pets(catalog)
        func load(_ source: SampleSource, shortSide: Int?) throws -> [SampleRecord] {
            try catalog.reader.read { c throws in
                var samples: [SampleRecord] = []
                try c.samples.forEachSample(source, cacheShortSide: shortSide) { samples.append($0) }
                return samples
            }
        }
        let train = try load(.real(splitID: pets.trainID), shortSide: 32)
        #expect(train.map(\.location.digest) == Array(pets.images.prefix(2)))
        #expect(train.map(\.label) == [0, 1] && train.map(\.classID) == [pets.cat.id, pets.dog.id])
        #expect(train.allSatisfy { $0.cached == nil })

        let pixels = try catalog.commitBlob([UInt8](repeating: 9, count: 32 * 24 * 3), mediaType: "application/x-loom-rgb8")
        try catalog.writer.transaction { tx in
            try tx.pixelCache.put([PixelCacheEntry(source: pets.images[0], cache: pixels, width: 32, height: 24)], shortSide: 32)
        }
        let cached = try load(.real(splitID: pets.trainID), shortSide: 32)
        #expect(cached[0].cached?.location.digest == pixels && cached[0].cached?.width == 32 && cached[0].cached?.height == 24)
        #expect(cached[1].cached == nil)
        #expect(try load(.real(splitID: pets.trainID), shortSide: 64).allSatisfy { $0.cached == nil })
        #expect(try load(.real(splitID: pets.trainID), shortSide: nil).allSatisfy { $0.cached == nil })
        try catalog.reader.read { c throws in
            #expect(try c.pixelCache.cached(pets.images[0], shortSide: 32)?.location.digest == pixels)
            #expect(try c.pixelCache.cached(pets.images[1], shortSide: 32) == nil)
            #expect(try c.pixelCache.count(shortSide: 32) == 1)
        }
        #expect(try load(.synthetic(datasetID: pets.datasetID, strategy: "caption"), shortSide: nil).isEmpty)
    }

    @Test("the run ledger: begin, progress, finish; fail and resume; forbidden transitions are conflicts", arguments: CatalogBackend.all)
    func runLedger(_ backend: CatalogBackend) throws {
        let catalog = try backend.make()
        let pets = try Pets(catalog)
        let (first, second) = try catalog.writer.transaction { tx in
            let first = try tx.runs.begin(stage: .ingest, datasetID: pets.datasetID, parentID: nil, config: #"{"a":1}"#)
            let second = try tx.runs.begin(stage: .train, datasetID: nil, parentID: first, config: "{}")
            return (first, second)
        }
        let begun = try #require(try catalog.reader.read { try $0.runs.run(id: first) })
        #expect(begun.status == .running && begun.stage == .ingest && begun.dataset == "pets" && begun.config == #"{"a":1}"#)
        #expect(begun.summary == nil && begun.finishedAt == nil && !begun.startedAt.isEmpty)

        try catalog.writer.transaction { tx in
            try tx.runs.progress(id: first, summary: #"{"done":1}"#)
            #expect(try tx.runs.run(id: first)?.summary == #"{"done":1}"#)  // a transaction reads its own writes
            try tx.runs.finish(id: first, summary: #"{"done":2}"#)
        }
        let finished = try #require(try catalog.reader.read { try $0.runs.run(id: first) })
        #expect(finished.status == .finished && finished.summary == #"{"done":2}"# && finished.finishedAt != nil)
        for step in [
            { (tx: any CatalogTransaction) in try tx.runs.finish(id: first, summary: "{}") },
            { tx in try tx.runs.fail(id: first, message: "late") },
            { tx in try tx.runs.progress(id: first, summary: "{}") },
            { tx in _ = try tx.runs.resume(id: first, parentID: nil) },
        ] {
            #expect(code { try catalog.writer.transaction(step) } == .conflict)
        }
        #expect(code { try catalog.writer.transaction { try $0.runs.finish(id: 999, summary: "{}") } } == .notFound)
        #expect(code { _ = try catalog.reader.read { try $0.runs.requireRun(id: 999) } } == .notFound)

        try catalog.writer.transaction { try $0.runs.fail(id: second, message: "out of \"memory\"") }
        let failed = try #require(try catalog.reader.read { try $0.runs.run(id: second) })
        #expect(failed.status == .failed && failed.finishedAt == nil)
        let summary = try JSONSerialization.jsonObject(with: Data(try #require(failed.summary).utf8)) as? [String: String]
        #expect(summary == ["error": "out of \"memory\""])
        let resumed = try catalog.writer.transaction { try $0.runs.resume(id: second, parentID: nil) }
        #expect(resumed.status == .running && resumed.parentID == first)
        try catalog.writer.transaction { _ = try $0.runs.resume(id: second, parentID: nil) }  // a killed run resumes as it is

        try catalog.reader.read { c throws in
            #expect(try c.runs.count() == 2)
            #expect(try c.runs.runs(RunFilter(), offset: 0, limit: 10).map(\.id) == [second, first])
            #expect(try c.runs.runs(RunFilter(), offset: 1, limit: 10).map(\.id) == [first])
            #expect(try c.runs.runs(RunFilter(stage: .train), offset: 0, limit: 10).map(\.id) == [second])
            #expect(try c.runs.runs(RunFilter(status: .finished), offset: 0, limit: 10).map(\.id) == [first])
            #expect(try c.runs.runs(RunFilter(config: #"{"a":1}"#), offset: 0, limit: 10).map(\.id) == [first])
            #expect(try c.runs.children(of: first) == [second])
        }
    }

    @Test("a transaction that throws leaves nothing behind", arguments: CatalogBackend.all)
    func atomicity(_ backend: CatalogBackend) throws {
        struct Abort: Error {}
        let catalog = try backend.make()
        #expect(throws: Abort.self) {
            try catalog.writer.transaction { tx in
                let dataset = try tx.datasets.ensureDataset(named: "half")
                _ = try tx.runs.begin(stage: .ingest, datasetID: dataset, parentID: nil, config: "{}")
                throw Abort()
            }
        }
        try catalog.reader.read { c throws in
            #expect(try c.datasets.datasetNames().isEmpty && c.runs.count() == 0)
        }
    }

    @Test("a read snapshot hands out no write methods", arguments: CatalogBackend.all)
    func snapshotsDoNotWrite(_ backend: CatalogBackend) throws {
        let catalog = try backend.make()
        try catalog.reader.read { c throws in
            #expect(!(c.runs is any RunWriting) && !(c.datasets is any DatasetWriting) && !(c.pixelCache is any PixelCacheWriting))
            #expect(!(c.captions is any CaptionWriting) && !(c.jobs is any JobWriting) && !(c.training is any TrainingWriting))
        }
    }

    @Test("captions, prompts, generators and synthetic images, traced back by lineage", arguments: CatalogBackend.all)
    func pipelineAndLineage(_ backend: CatalogBackend) throws {
        let catalog = try backend.make()
        let pets = try Pets(catalog)
        let fake = try catalog.commitBlob(Array("synthetic".utf8), mediaType: "image/png")
        let realID = try catalog.reader.read { c in try #require(c.datasets.ingestedFiles(dataset: "pets", split: "train")[ExactName("train/cat/1.jpg")]).id }
        try catalog.writer.transaction { tx in
            let captioner = try tx.captions.ensureCaptioner(name: "blip", params: "{}", backend: "import")
            #expect(try tx.captions.ensureCaptioner(name: "blip", params: "{}", backend: "import") == captioner)
            let first = try tx.captions.putCaption(realImageID: realID, captionerID: captioner, text: "a cat", seconds: nil)
            let caption = try tx.captions.putCaption(realImageID: realID, captionerID: captioner, text: "a Zanzibar cat", seconds: 0.5)
            #expect(first == caption)
            let row = PromptRow(datasetID: pets.datasetID, classID: pets.cat.id, captionID: caption, strategy: "caption",
                                template: "{caption}", text: "a Zanzibar cat", tokens: 3, tokenRule: "clip-words-v1")
            let prompt = try tx.prompts.ensurePrompt(row)
            #expect(try tx.prompts.ensurePrompt(row) == prompt)
            let generator = try tx.synthetic.ensureGenerator(name: "sd", version: "1.5", params: "{}", backend: "builtin:test")
            let image = SyntheticRow(blobID: try #require(try tx.snapshot.blobs.blob(fake)).id, promptID: prompt, generatorID: generator,
                                     seed: 7, steps: 30, guidance: 7.5, width: 64, height: 64)
            try tx.synthetic.putSynthetic(image)
            try tx.synthetic.putSynthetic(image)
        }
        try catalog.reader.read { c throws in
            #expect(try c.captions.captioners(of: pets.datasetID) == ["blip"])
            #expect(try c.captions.captions(of: realID).map(\.text) == ["a Zanzibar cat"])
            #expect(try c.captions.count(of: pets.datasetID) == 1)
            #expect(try c.prompts.count(of: pets.datasetID, strategy: nil) == 1 && c.prompts.count(of: pets.datasetID, strategy: "x") == 0)
            #expect(try c.synthetic.count(of: pets.datasetID, strategy: "caption") == 1)
            #expect(try c.datasets.derivedCounts()["pets"] == DerivedCounts(captions: 1, prompts: 1, synthetic: 1))
            #expect(try c.datasets.syntheticThumbnails(of: pets.datasetID, perClass: 5).map(\.digest) == [fake])

            let lineage = try #require(try c.lineage.synthetic(fake))
            #expect(lineage.caption == "a Zanzibar cat" && lineage.captioner == "blip" && lineage.realDigest == pets.images[0])
            #expect(lineage.realPath == "train/cat/1.jpg" && lineage.classWnid == "cat" && lineage.generator == "sd" && lineage.seed == 7)
            #expect(try c.lineage.synthetic(pets.images[0]) == nil)
            var found: [Digest] = []
            try c.lineage.forEachSynthetic(LineageFilter(captionContains: "zanzibar")) { found.append($0.digest) }
            try c.lineage.forEachSynthetic(LineageFilter(captionContains: "50%")) { found.append($0.digest) }
            #expect(found == [fake])
            #expect(code { try c.lineage.forEachSynthetic(LineageFilter(dataset: "nope")) { _ in } } == .notFound)
        }
    }

    @Test("jobs: a plan per run, done and failed with attempts", arguments: CatalogBackend.all)
    func jobs(_ backend: CatalogBackend) throws {
        let catalog = try backend.make()
        let run = try catalog.writer.transaction { tx in
            let run = try tx.runs.begin(stage: .generate, datasetID: nil, parentID: nil, config: "{}")
            try tx.jobs.plan(["a", "b", "c"], for: run)
            try tx.jobs.plan(["b", "d"], for: run)
            try tx.jobs.markDone("a", of: run)
            try tx.jobs.markFailed("b", of: run, error: "timeout")
            return run
        }
        #expect(code { try catalog.writer.transaction { try $0.jobs.markDone("zz", of: run) } } == .notFound)
        try catalog.reader.read { c throws in
            #expect(try c.jobs.jobs(of: run, state: .pending).map(\.key) == ["c", "d"])
            let failed = try c.jobs.jobs(of: run, state: .failed)
            #expect(failed.map(\.key) == ["b"] && failed.first?.attempts == 1 && failed.first?.error == "timeout")
            #expect(try c.jobs.counts(of: run) == [.pending: 2, .done: 1, .failed: 1])
        }
    }

    @Test("jobs: claims under a lease in plan order, renewal, release; on PostgreSQL a live lease keeps a job from other owners", arguments: CatalogBackend.all)
    func jobClaims(_ backend: CatalogBackend) throws {
        let catalog = try backend.make()
        let run = try catalog.writer.transaction { tx in
            let run = try tx.runs.begin(stage: .generate, datasetID: nil, parentID: nil, config: "{}")
            try tx.jobs.plan(["a", "b", "c", "d"], for: run)
            try tx.jobs.markDone("a", of: run)
            return run
        }
        let first = try catalog.writer.transaction { try $0.jobs.claim(run, owner: "A", limit: 2, lease: .seconds(600)) }
        #expect(first.map(\.key) == ["b", "c"], "pending jobs in plan order")
        #expect(try catalog.writer.transaction { try $0.jobs.renew(run, owner: "A", lease: .seconds(600)) } == 2)
        let second = try catalog.writer.transaction { try $0.jobs.claim(run, owner: "B", limit: 10, lease: .seconds(600)) }
        if backend.name == "sqlite" {
            #expect(second.map(\.key) == ["b", "c", "d"], "one writer: a lease there can only be a dead writer's")
        } else {
            #expect(second.map(\.key) == ["d"], "A's live leases keep b and c from B")
        }
        try catalog.writer.transaction { try $0.jobs.markDone("b", of: run) }
        // A stops early: its claim on c (still pending) goes back at once; b, done, is not touched.
        #expect(try catalog.writer.transaction { try $0.jobs.release(run, owner: "A") } == (backend.name == "sqlite" ? 0 : 1))
        let third = try catalog.writer.transaction { try $0.jobs.claim(run, owner: "C", limit: 10, lease: .seconds(600)) }
        #expect(third.map(\.key).contains("c") && !third.map(\.key).contains("b"), "\(third.map(\.key))")
    }

    @Test("training: epochs, per-class results named by the run's dataset, checkpoints, samples", arguments: CatalogBackend.all)
    func training(_ backend: CatalogBackend) throws {
        let catalog = try backend.make()
        let pets = try Pets(catalog)
        let weights = try catalog.commitBlob(Array("weights".utf8), mediaType: "application/x-loom-checkpoint")
        let run = try catalog.writer.transaction { tx in
            let run = try tx.runs.begin(stage: .train, datasetID: pets.datasetID, parentID: nil, config: "{}")
            let epoch = EpochRecord(epoch: 1, loss: 2.5, trainTop1: 0.25, evalTop1: nil, evalTop5: nil, imagesPerSecond: 100, seconds: 3)
            try tx.training.recordEpoch(epoch, of: run)
            try tx.training.recordEpoch(EpochRecord(epoch: 2, loss: 1.5, trainTop1: 0.5, evalTop1: 0.4, evalTop5: 0.9,
                                                    imagesPerSecond: 120, seconds: 2.5), of: run)
            try tx.training.recordEvalClasses([EvalClassRecord(label: 1, correct: 3, total: 4), EvalClassRecord(label: 7, correct: 0, total: 1)], of: run)
            try tx.training.recordCheckpoint(of: run, epoch: 2, blobID: try #require(try tx.snapshot.blobs.blob(weights)).id, cursor: "c2")
            let sample = try #require(try tx.snapshot.blobs.blob(pets.images[0])).id
            try tx.training.recordSamples([(sample, 0), (sample, 0)], of: run)
            return run
        }
        try catalog.reader.read { c throws in
            let epochs = try c.training.epochs(of: run)
            #expect(epochs.map(\.epoch) == [1, 2] && epochs[0].evalTop1 == nil && epochs[1].evalTop5 == 0.9 && epochs[1].imagesPerSecond == 120)
            let classes = try c.training.evalClasses(of: run)
            #expect(classes.map(\.label) == [1, 7] && classes[0].wnid == "dog" && classes[0].name == "dog" && classes[1].wnid == nil)
            let checkpoints = try c.training.checkpoints(of: run)
            #expect(checkpoints.map(\.epoch) == [2] && checkpoints.first?.digest == weights && checkpoints.first?.cursor == "c2")
            #expect(try c.info.schemaVersion() > 0)
        }
    }

    @Test("error codes: the store's codes fold into the common set, spelled as the CLI prints them")
    func errorCodes() {
        let expected: [(StoreError.Code, LoomErrorCode)] = [
            (.notFound, .notFound), (.ambiguous, .invalidInput), (.invalidArgument, .invalidInput), (.locked, .conflict),
            (.conflict, .conflict), (.corrupt, .corrupt), (.noStore, .unavailable), (.schema, .unavailable),
            (.busy, .unavailable), (.timedOut, .unavailable), (.cancelled, .unavailable), (.io, .internal),
        ]
        for (store, common) in expected { #expect(StoreError(store, "x").errorCode == common, "\(store.rawValue)") }
        #expect(LoomErrorCode.allCases.map(\.rawValue) == ["not-found", "invalid-input", "conflict", "corrupt", "unavailable", "internal"])
        #expect(StoreError.Code.invalidArgument.rawValue == "invalid-argument" && StoreError.Code.notFound.rawValue == "not-found")
    }
}
