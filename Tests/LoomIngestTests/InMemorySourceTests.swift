import Foundation
import LoomIngest
import LoomStore
import LoomTestSupport
import Testing

/// An ``InMemorySource`` must ingest exactly as a ``DirectorySource`` does for the same tree:
/// the same layout, files, names, splits, classes and rejections, and the same catalog rows.
@Suite("in-memory ingest source")
struct InMemorySourceTests {
    /// A tree that exercises the walk's rules: nested class folders, hidden entries at every
    /// level, files at the top (not members), a folder named like an image, names whose byte
    /// order differs from whole-path string order ("a-b" sorts before "a/b" as a path, after it
    /// in a listing), NFC and NFD spellings, a PNG, a broken JPEG and one over the size limit.
    static func imageFolderTree() -> [(path: String, bytes: [UInt8])] {
        [
            ("cat/a.jpg", FixtureImages.jpeg(width: 40, height: 30, seed: 1)),
            ("cat/a/b.jpg", FixtureImages.jpeg(width: 40, height: 30, seed: 2)),
            ("cat/a-b.jpg", FixtureImages.jpeg(width: 40, height: 30, seed: 3)),
            ("cat/deep/er/c.png", FixtureImages.png(width: 24, height: 20, seed: 4)),
            ("cat/folder.jpg/inside.jpg", FixtureImages.jpeg(width: 40, height: 30, seed: 5)),
            ("cat/.hidden.jpg", FixtureImages.jpeg(width: 40, height: 30, seed: 6)),
            ("cat/.git/x.jpg", FixtureImages.jpeg(width: 40, height: 30, seed: 7)),
            ("caf\u{E9}/one.jpg", FixtureImages.jpeg(width: 40, height: 30, seed: 8)),
            ("cafe\u{301}/one.jpg", FixtureImages.jpeg(width: 40, height: 30, seed: 9)),
            ("dog/copy.jpg", FixtureImages.jpeg(width: 40, height: 30, seed: 1)),
                        ("dog/big.jpg", FixtureImages.jpeg(width: 200, height: 150, seed: 11)),
            ("dog/z.jpg", FixtureImages.jpeg(width: 40, height: 30, seed: 12)),
            // Last of all: a failed JPEG header spoils the next file its worker decodes (LoomImage).
            ("dog/zz-broken.jpg", FixtureImages.truncatedJPEG(seed: 10)),
            (".cache/n.jpg", FixtureImages.jpeg(width: 40, height: 30, seed: 13)),
            ("README.txt", Array("not a member".utf8)),
        ]
    }

    static func trainValTree() -> [(path: String, bytes: [UInt8])] {
        [
            ("train/cat/a.jpg", FixtureImages.jpeg(width: 40, height: 30, seed: 21)),
            ("train/dog/b.jpg", FixtureImages.jpeg(width: 40, height: 30, seed: 22)),
            ("val/cat/c.jpg", FixtureImages.jpeg(width: 40, height: 30, seed: 23)),
            ("val/loose.jpg", FixtureImages.jpeg(width: 40, height: 30, seed: 24)),
            ("test/flat.jpg", FixtureImages.jpeg(width: 40, height: 30, seed: 25)),
            ("extra/cat/d.jpg", FixtureImages.jpeg(width: 40, height: 30, seed: 26)),
        ]
    }

    /// The tree written to disk byte for byte (NFD names stay NFD) and held in memory.
    static func bothSources(_ tree: [(path: String, bytes: [UInt8])], in temp: TemporaryDirectory) throws
        -> (disk: DirectorySource, memory: InMemorySource) {
        let root = temp.appending("data")
        for (path, bytes) in tree { try RawFiles.write(bytes, to: root + "/" + path) }
        return (DirectorySource(root: root), try InMemorySource(entries: tree.map { .init(path: $0.path, bytes: $0.bytes) }))
    }

    /// A scan as plain values, paths relative to the root and names as bytes.
    struct ScanFacts: Equatable, CustomStringConvertible {
        var layout: String
        var files: [[String]]
        var loose: [[String]]
        var rejected: [Rejection]
        var classes: [[UInt8]]
        var splits: [[UInt8]]
        var unlisted: [[UInt8]]

        init(_ scan: DatasetScanner.Result) {
            layout = scan.layout
            func facts(_ file: SourceFile) -> [String] {
                [file.path, file.name, file.split, file.wnid, String(file.size)].map { $0.utf8.map(String.init).joined(separator: ".") }
            }
            files = scan.files.map(facts)
            loose = scan.loose.map(facts)
            rejected = scan.rejected
            classes = scan.classes.sorted().map { Array($0.string.utf8) }
            splits = scan.splits.sorted().map { Array($0.string.utf8) }
            unlisted = scan.unlisted.sorted().map { Array($0.string.utf8) }
        }

        var description: String { "\(layout) files \(files.count) loose \(loose.count) rejected \(rejected)" }
    }

    @Test("an ImageFolder tree scans the same from memory as from disk", arguments: [nil, "val"] as [String?])
    func imageFolderScan(split: String?) throws {
        let temp = try TemporaryDirectory(prefix: "loom-memory-")
        let (disk, memory) = try Self.bothSources(Self.imageFolderTree(), in: temp)
        let fromDisk = try disk.scan(split: split, maxFiles: 1000, only: nil)
        let fromMemory = try memory.scan(split: split, maxFiles: 1000, only: nil)
        #expect(ScanFacts(fromMemory) == ScanFacts(fromDisk))
        #expect(fromDisk.layout == "imagefolder" && fromDisk.files.count == 10, "the premise: \(ScanFacts(fromDisk))")
        #expect(fromMemory.files.map(\.path).filter { $0.hasPrefix("cat/") }.prefix(3) == ["cat/a/b.jpg", "cat/a-b.jpg", "cat/a.jpg"], "listing order")
        #expect(fromMemory.rejected == [Rejection(path: "cat/folder.jpg", reason: "is a directory, not an image file")])
    }

    @Test("a train/val tree scans the same from memory as from disk, with or without --split and --classes")
    func trainValScan() throws {
        let temp = try TemporaryDirectory(prefix: "loom-memory-")
        let (disk, memory) = try Self.bothSources(Self.trainValTree(), in: temp)
        for (split, only) in [(nil, nil), ("train", nil), (nil, ["cat"])] as [(String?, Set<ExactName>?)] {
            let fromDisk = try disk.scan(split: split, maxFiles: 1000, only: only)
            let fromMemory = try memory.scan(split: split, maxFiles: 1000, only: only)
            #expect(ScanFacts(fromMemory) == ScanFacts(fromDisk), "split \(split ?? "-") only \(only ?? [])")
        }
        let scan = try memory.scan(split: nil, maxFiles: 1000, only: nil)
        #expect(scan.layout == "train-val" && scan.loose.map(\.path) == ["test/flat.jpg", "val/loose.jpg"], "\(ScanFacts(scan))")
    }

    @Test("past maxFiles both sources stop with the same invalid-input error before anything is stored")
    func maxFiles() throws {
        let temp = try TemporaryDirectory(prefix: "loom-memory-")
        let (disk, memory) = try Self.bothSources(Self.imageFolderTree(), in: temp)
        for source in [disk, memory] as [any IngestSource] {
            let error = try #require(throws: IngestError.self) { try source.scan(split: nil, maxFiles: 5, only: nil) }
            #expect(error.errorCode == .invalidInput && error.message.contains("more than 5 files"), "\(error)")
            #expect(error.path == source.root)
        }
    }

    /// The real images of `dataset` as (split, path, class, label, digest, size, format) text.
    static func rows(_ store: Store, dataset: String) throws -> [String] {
        var rows: [String] = []
        try store.read { snapshot in
            try snapshot.datasets.forEachRealImage(RealImageFilter(dataset: dataset)) { entry in
                rows.append([entry.split, entry.path, entry.name, entry.class, String(entry.label), entry.digest,
                             "\(entry.width)x\(entry.height)", entry.format, String(entry.bytes)]
                    .map { $0.utf8.map(String.init).joined(separator: ".") }.joined(separator: " "))
            }
        }
        return rows
    }

    @Test("ingesting the same tree from memory and from disk stores the same rows, digests and rejections")
    func sameIngest() throws {
        let temp = try TemporaryDirectory(prefix: "loom-memory-")
        let (disk, memory) = try Self.bothSources(Self.imageFolderTree(), in: temp)
        let options = Ingestor.Options(dataset: "pets", workers: 2, maxFileBytes: 4000)
        #expect(FixtureImages.jpeg(width: 200, height: 150, seed: 11).count > 4000, "the premise: big.jpg is over the limit")

        let diskStore = try Store(StoreLayout(root: temp.appending("disk-store")), access: .readWrite)
        let memoryStore = try Store(StoreLayout(root: temp.appending("memory-store")), access: .readWrite)
        let fromDisk = try Ingestor(store: diskStore, options: options).run(source: disk)
        let fromMemory = try Ingestor(store: memoryStore, options: options).run(source: memory)

        #expect(fromMemory.root == "memory" && fromDisk.root == disk.root)
        #expect(fromMemory.files == fromDisk.files && fromMemory.classes == fromDisk.classes && fromMemory.layout == fromDisk.layout)
        #expect(fromMemory.added == fromDisk.added && fromMemory.duplicates == fromDisk.duplicates, "\(fromMemory) vs \(fromDisk)")
        #expect(fromMemory.duplicates == 1, "dog/copy.jpg repeats cat/a.jpg")
        #expect(fromMemory.bytesRead == fromDisk.bytesRead && fromMemory.bytesStored == fromDisk.bytesStored)
        #expect(fromMemory.rejected == fromDisk.rejected)
        #expect(Set(fromMemory.rejected.map(\.path)) == ["cat/folder.jpg", "dog/zz-broken.jpg", "dog/big.jpg"], "\(fromMemory.rejected)")
        let rows = try Self.rows(memoryStore, dataset: "pets")
        #expect(rows.count == 8)
        #expect(rows == (try Self.rows(diskStore, dataset: "pets")))
    }

    @Test("the in-memory ingest records its run in the ledger as a folder ingest does")
    func ledgerRow() throws {
        let temp = try TemporaryDirectory(prefix: "loom-memory-")
        let store = try Store(StoreLayout(root: temp.appending("store")), access: .readWrite)
        let source = try InMemorySource(root: "upload", entries: [.init(path: "cat/a.jpg", bytes: FixtureImages.jpeg(width: 40, height: 30, seed: 31))])
        let summary = try Ingestor(store: store, options: .init(dataset: "pets", workers: 1)).run(source: source)
        #expect(summary.added == 1 && summary.root == "upload")
        let runs = try store.read { try $0.runs.runs(RunFilter(stage: .ingest), offset: 0, limit: 10) }
        let run = try #require(runs.first)
        #expect(runs.count == 1 && run.status == .finished && run.dataset == "pets" && run.finishedAt != nil, "\(runs)")
        let config = try #require(try JSONSerialization.jsonObject(with: Data(run.config.utf8)) as? [String: String])
        #expect(config["root"] == "upload" && config["layout"] == "imagefolder", "\(config)")
        let recorded = try JSONDecoder().decode(IngestSummary.self, from: Data(try #require(run.summary).utf8))
        #expect(recorded.added == 1 && recorded.root == "upload")
    }

    @Test("uploading a path again is always read: changed bytes of the same size update the image")
    func reuploadIsRead() throws {
        let temp = try TemporaryDirectory(prefix: "loom-memory-")
        let store = try Store(StoreLayout(root: temp.appending("store")), access: .readWrite)
        let options = Ingestor.Options(dataset: "pets", workers: 1)
        let first = FixtureImages.jpeg(width: 40, height: 30, seed: 41)
        // Same size, other bytes, still a valid image: another pixel density in the JFIF header.
        #expect(Array(first[6..<11]) == Array("JFIF\u{0}".utf8), "the premise: the fixture starts with a JFIF segment")
        var second = first
        second[15] ^= 0x01
        _ = try Ingestor(store: store, options: options).run(source: try InMemorySource(entries: [.init(path: "cat/a.jpg", bytes: first)]))
        let same = try Ingestor(store: store, options: options).run(source: try InMemorySource(entries: [.init(path: "cat/a.jpg", bytes: first)]))
        #expect(same.unchanged == 1 && same.added == 0 && same.updated == 0, "\(same)")
        let changed = try Ingestor(store: store, options: options).run(source: try InMemorySource(entries: [.init(path: "cat/a.jpg", bytes: second)]))
        #expect(changed.updated == 1 && changed.unchanged == 0, "\(changed)")
        let digest = try #require(try Self.rows(store, dataset: "pets").first)
        #expect(digest.contains(Digest.sha256(second).hex.utf8.map(String.init).joined(separator: ".")))
    }

    @Test("entries a folder could not hold are refused when the source is made, naming the path",
          arguments: ["", "cat//a.jpg", "/cat/a.jpg", "cat/", "cat/a\u{0}.jpg", "cat/" + String(repeating: "x", count: 256)])
    func refusedPaths(path: String) throws {
        let error = try #require(throws: IngestError.self) {
            try InMemorySource(entries: [.init(path: path, bytes: [1, 2, 3])])
        }
        #expect(error.errorCode == .invalidInput && error.path == path, "\(error)")
    }

    @Test("a path given twice, or both a file and a folder, is refused")
    func refusedTrees() throws {
        let twice = try #require(throws: IngestError.self) {
            try InMemorySource(entries: [.init(path: "cat/a.jpg", bytes: [1]), .init(path: "cat/a.jpg", bytes: [2])])
        }
        #expect(twice.errorCode == .invalidInput && twice.message.contains("twice"), "\(twice)")
        for order in [["cat/a", "cat/a/b.jpg"], ["cat/a/b.jpg", "cat/a"]] {
            let both = try #require(throws: IngestError.self) {
                try InMemorySource(entries: order.map { .init(path: $0, bytes: [1]) })
            }
            #expect(both.errorCode == .invalidInput && both.message.contains("both a file and a folder"), "\(both)")
        }
        // NFC and NFD spellings are two paths, as on disk.
        _ = try InMemorySource(entries: [.init(path: "cat/caf\u{E9}.jpg", bytes: [1]), .init(path: "cat/cafe\u{301}.jpg", bytes: [2])])
    }
}
