import Foundation
import Glibc
import LoomTestSupport
import Testing

/// Every CLI test: one after another, because several measure or race real processes (kills,
/// concurrent readers) and the machines that run them may have two cores.
@Suite("loom CLI (end to end)", .serialized)
struct CLITests {}

// MARK: - JSON shapes of the CLI contract (decoded independently of the library's own types)

struct IngestJSON: Decodable {
    struct Rejection: Decodable, Hashable {
        var path: String
        var reason: String
    }

    var dataset: String
    var root: String
    var layout: String
    var splits: [String]
    var classes: Int
    var files: Int
    var added: Int
    var duplicates: Int
    var unchanged: Int
    var updated: Int
    var rejected: [Rejection]
    var bytesRead: Int
    var bytesStored: Int
    var seconds: Double
    var imagesPerSecond: Double
    var elsewhere: Int?

    enum CodingKeys: String, CodingKey {
        case dataset, root, layout, splits, classes, files, added, duplicates, unchanged, updated, rejected, seconds
        case elsewhere = "ingested_elsewhere"
        case bytesRead = "bytes_read"
        case bytesStored = "bytes_stored"
        case imagesPerSecond = "images_per_second"
    }
}

/// One line of `loom ls --json`.
struct LsLine: Decodable, Hashable, CustomStringConvertible {
    var digest: String
    var split: String
    var `class`: String
    var label: Int
    var path: String
    var width: Int
    var height: Int

    var description: String { "\(split)/\(path) [\(`class`) \(label)] \(width)x\(height) \(digest.prefix(12))" }
}

struct StatsJSON: Decodable {
    struct ClassCount: Decodable, Equatable { var label: Int; var wnid: String; var name: String; var images: Int }
    struct Split: Decodable, Equatable { var name: String; var images: Int; var classes: [ClassCount] }
    struct Dataset: Decodable, Equatable { var name: String; var images: Int; var classes: Int; var splits: [Split] }
    struct Blobs: Decodable, Equatable {
        var count: Int
        var lz4: Int
        var originalBytes: Int
        var storedBytes: Int
        enum CodingKeys: String, CodingKey {
            case count, lz4
            case originalBytes = "original_bytes"
            case storedBytes = "stored_bytes"
        }
    }
    struct Shards: Decodable, Equatable { var count: Int; var sealed: Int; var bytes: Int }

    var store: String
    var datasets: [Dataset]
    var blobs: Blobs
    var shards: Shards

    func images(of dataset: String) -> Int { datasets.first { $0.name == dataset }?.images ?? 0 }
}

struct VerifyJSON: Decodable {
    struct Row: Decodable, Hashable { var dataset: String; var split: String; var path: String }
    struct Problem: Decodable {
        var shard: String
        var offset: Int?
        var digest: String?
        var reason: String
        var rows: [Row]
    }

    var ok: Bool
    var catalog: String
    var shards: Int
    var records: Int
    var bytes: Int
    var problems: [Problem]
}

struct GCJSON: Decodable {
    var deletedBlobs: Int
    var rewrittenShards: Int
    var removedShards: Int
    var reclaimedBytes: Int

    enum CodingKeys: String, CodingKey {
        case deletedBlobs = "deleted_blobs"
        case rewrittenShards = "rewritten_shards"
        case removedShards = "removed_shards"
        case reclaimedBytes = "reclaimed_bytes"
    }
}

/// `loom cat --json`.
struct CatInfo: Decodable {
    var digest: String
    var bytes: Int
    var codec: String
    var shard: String
    var offset: Int
}

// MARK: - A store driven through the CLI

/// A fresh store directory (inside a test's temporary directory) and the commands run on it.
struct CLIStore {
    let path: String
    /// Environment every command on this store gets (on top of `CI=1`).
    var environment: [String: String] = [:]

    init(_ path: String, environment: [String: String] = [:]) {
        self.path = path
        self.environment = environment
    }

    var shardsDirectory: String { path + "/shards" }
    var catalogPath: String { path + "/catalog.sqlite" }

    /// `loom <arguments> --store PATH`, whatever its exit status.
    func run(_ arguments: [String], environment extra: [String: String] = [:], timeout: Duration = .seconds(120)) throws -> LoomRun {
        try Loom.run(arguments + ["--store", path], environment: environment.merging(extra) { _, new in new }, timeout: timeout)
    }

    /// `loom <arguments> --store PATH`, which must exit 0.
    @discardableResult
    func ok(_ arguments: [String], environment extra: [String: String] = [:], timeout: Duration = .seconds(120)) throws -> LoomRun {
        let run = try run(arguments, environment: extra, timeout: timeout)
        guard run.succeeded else { throw LoomFailure("expected exit 0", run: run) }
        return run
    }

    /// Starts `loom <arguments> --store PATH` in the background.
    func start(_ arguments: [String], environment extra: [String: String] = [:]) throws -> LoomChild {
        try Loom.start(arguments + ["--store", path], environment: environment.merging(extra) { _, new in new })
    }

    func ingestArguments(_ root: String, dataset: String, _ extra: [String] = []) -> [String] {
        ["ingest", root, "--dataset", dataset, "--json"] + extra
    }

    /// `loom ingest ROOT --dataset D --json`, which must exit 0.
    @discardableResult
    func ingest(_ root: String, dataset: String, _ extra: [String] = []) throws -> IngestJSON {
        try ok(ingestArguments(root, dataset: dataset, extra)).decode(IngestJSON.self)
    }

    func ls(_ dataset: String, _ extra: [String] = []) throws -> [LsLine] {
        try ok(["ls", "--dataset", dataset, "--json"] + extra).decodeLines(LsLine.self)
    }

    func stats() throws -> StatsJSON {
        try ok(["stats", "--json"]).decode(StatsJSON.self)
    }

    /// `loom verify --json`: the run (exit 0 clean, 1 broken) and its report.
    func verify() throws -> (run: LoomRun, report: VerifyJSON) {
        let run = try run(["verify", "--json"])
        guard !run.signaled, !run.timedOut, run.status == 0 || run.status == 1 else {
            throw LoomFailure("verify neither passed nor reported problems", run: run)
        }
        return (run, try run.decode(VerifyJSON.self))
    }

    /// Throws unless `loom verify` exits 0 with a clean report (and plain `verify` agrees).
    @discardableResult
    func expectClean(_ context: @autoclosure () -> String = "") throws -> VerifyJSON {
        let (run, report) = try verify()
        guard run.status == 0, report.ok, report.problems.isEmpty, report.catalog == "ok" else {
            throw LoomFailure("verify is not clean \(context())", run: run)
        }
        return report
    }

    /// `loom cat DIGEST` stdout.
    func cat(_ digest: String) throws -> Data {
        try ok(["cat", digest]).stdout
    }

    /// Shard files on disk (name -> size).
    func shardFiles() throws -> [String: Int] {
        var result: [String: Int] = [:]
        for name in try FileManager.default.contentsOfDirectory(atPath: shardsDirectory) where name.hasSuffix(".loom") {
            let attributes = try FileManager.default.attributesOfItem(atPath: shardsDirectory + "/" + name)
            result[name] = (attributes[.size] as? NSNumber)?.intValue ?? -1
        }
        return result
    }
}

// MARK: - Datasets on disk

/// Images written into a dataset folder, with their expected listing.
struct SourceImage: Hashable {
    /// Relative to the dataset root, as `loom ls` reports it.
    var path: String
    var split: String
    var `class`: String
    /// Relative to the class folder (what export recreates).
    var name: String
    var width: Int
    var height: Int
    var bytes: [UInt8]
}

/// Builds dataset folders of real JPEGs and PNGs.
enum DatasetMaker {
    /// A JPEG or PNG of `width`x`height`; different seeds give different pictures.
    static func image(png: Bool, width: Int, height: Int, seed: UInt64) -> [UInt8] {
        png ? FixtureImages.png(width: width, height: height, seed: seed)
            : FixtureImages.jpeg(width: width, height: height, seed: seed)
    }

    /// `jpeg` with a COM segment holding `comment` right after SOI: the same picture, a valid
    /// JPEG, different bytes. Lets a test make thousands of distinct files without encoding each.
    static func commented(_ jpeg: [UInt8], _ comment: String) -> [UInt8] {
        precondition(jpeg.count > 2 && jpeg[0] == 0xFF && jpeg[1] == 0xD8, "not a JPEG")
        let text = Array(comment.utf8)
        let length = text.count + 2
        precondition(length <= 0xFFFF)
        return [0xFF, 0xD8, 0xFF, 0xFE, UInt8(length >> 8), UInt8(length & 0xFF)] + text + jpeg[2...]
    }

    /// Writes `images` below `root` (their `path`s) and returns them.
    @discardableResult
    static func write(_ images: [SourceImage], into directory: ScratchDirectory, root: String) throws -> [SourceImage] {
        // Parents once each, then plain POSIX writes: thousands of files in well under a second.
        var parents: Set<String> = []
        for image in images {
            let path = directory.appending(root + "/" + image.path)
            let parent = (path as NSString).deletingLastPathComponent
            if parents.insert(parent).inserted {
                try FileManager.default.createDirectory(atPath: parent, withIntermediateDirectories: true)
            }
            try Files.write(image.bytes, to: path)
        }
        return images
    }

    /// Distinct pictures (varied sizes, JPEG and PNG) in ImageFolder order:
    /// `<class>/<name>` for each class, names unique within the class.
    static func pictures(classes: [String], perClass: Int, split: String, prefix: String = "",
                         seed: UInt64 = 1, pngEvery: Int = 3) -> [SourceImage] {
        let sizes = [(64, 48), (96, 72), (120, 90), (160, 120), (80, 60), (72, 96)]
        var images: [SourceImage] = []
        var counter: UInt64 = 0
        for className in classes {
            for index in 0..<perClass {
                counter += 1
                let (width, height) = sizes[Int(counter) % sizes.count]
                let isPNG = pngEvery > 0 && index % pngEvery == pngEvery - 1
                let name = String(format: "img_%03d.%@", index, isPNG ? "png" : "jpg")
                images.append(SourceImage(
                    path: prefix + className + "/" + name, split: split, class: className, name: name,
                    width: width, height: height,
                    bytes: image(png: isPNG, width: width, height: height, seed: seed &* 1000 &+ counter)))
            }
        }
        return images
    }

    /// Many cheap distinct JPEGs: `bases` encoded pictures of a few sizes, each repeated with a
    /// different COM segment. Laid out as `<prefix><class>/<name>`.
    static func bulk(count: Int, classes: [String], split: String, prefix: String = "", bases: Int = 8,
                     baseSize: (Int, Int) = (48, 36), tag: String = "") -> [SourceImage] {
        let sizes = (0..<bases).map { i in (baseSize.0 + 8 * (i % 3), baseSize.1 + 8 * (i % 2)) }
        let encoded = (0..<bases).map { i in FixtureImages.jpeg(width: sizes[i].0, height: sizes[i].1, seed: 7000 + UInt64(i)) }
        return (0..<count).map { i in
            let className = classes[i % classes.count]
            let base = i % bases
            let name = String(format: "n%05d.jpg", i)
            return SourceImage(
                path: prefix + className + "/" + name, split: split, class: className, name: name,
                width: sizes[base].0, height: sizes[base].1,
                bytes: commented(encoded[base], "loom cli test \(tag) image \(i)"))
        }
    }
}

// MARK: - Scratch space

/// A fresh directory for one test, removed with everything in it when released.
///
/// Lives on a tmpfs (`/dev/shm`) when one is there with room to spare, else in the system
/// temporary directory (``TemporaryDirectory``): the bulk tests write and ingest thousands of
/// files, and creating a file on a loaded disk costs a millisecond or two, thirty times what
/// it costs on tmpfs. `$LOOM_TEST_SCRATCH` picks the base explicitly. Nothing in these tests
/// depends on durability across power loss, only on process death, which tmpfs keeps.
final class ScratchDirectory: Sendable {
    let path: String
    private let fallback: TemporaryDirectory?

    init() throws {
        if let base = Self.fastBase {
            let path = base + "/loom-cli-test-" + UUID().uuidString
            try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
            self.path = path
            fallback = nil
        } else {
            let temp = try TemporaryDirectory(prefix: "loom-cli-test-")
            path = temp.path
            fallback = temp
        }
    }

    deinit {
        if fallback == nil { try? FileManager.default.removeItem(atPath: path) }
    }

    private static let fastBase: String? = {
        if let explicit = ProcessInfo.processInfo.environment["LOOM_TEST_SCRATCH"], !explicit.isEmpty { return explicit }
        var info = statvfs()
        guard statvfs("/dev/shm", &info) == 0, access("/dev/shm", W_OK) == 0 else { return nil }
        let free = UInt64(info.f_bavail) * UInt64(info.f_frsize)
        return free >= 512 << 20 ? "/dev/shm" : nil
    }()

    func appending(_ relativePath: String) -> String {
        relativePath.isEmpty ? path : path + "/" + relativePath
    }

    @discardableResult
    func write(_ bytes: [UInt8], to relativePath: String) throws -> String {
        let file = appending(relativePath)
        try FileManager.default.createDirectory(atPath: (file as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        try Files.write(bytes, to: file)
        return file
    }

    @discardableResult
    func write(_ text: String, to relativePath: String) throws -> String { try write(Array(text.utf8), to: relativePath) }

    @discardableResult
    func makeDirectory(_ relativePath: String) throws -> String {
        let directory = appending(relativePath)
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        return directory
    }
}

// MARK: - Small file helpers

enum Files {
    static func read(_ path: String) throws -> [UInt8] {
        guard let data = FileManager.default.contents(atPath: path) else { throw LoomFailure("cannot read \(path)") }
        return [UInt8](data)
    }

    /// Every regular file below `root`, relative to it, sorted.
    static func regularFiles(below root: String) throws -> [String] {
        guard let enumerator = FileManager.default.enumerator(atPath: root) else { throw LoomFailure("cannot list \(root)") }
        var files: [String] = []
        while let relative = enumerator.nextObject() as? String {
            var isDirectory: ObjCBool = false
            if FileManager.default.fileExists(atPath: root + "/" + relative, isDirectory: &isDirectory), !isDirectory.boolValue {
                files.append(relative)
            }
        }
        return files.sorted()
    }

    /// Creates or replaces `path` with `bytes`.
    static func write(_ bytes: [UInt8], to path: String) throws {
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw LoomFailure("cannot create \(path): \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        let written = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
        guard written == bytes.count else { throw LoomFailure("short write to \(path)") }
    }

    /// Creates (or replaces) a file whose name is raw bytes (e.g. not UTF-8) in `directory`.
    static func createRawNamed(_ nameBytes: [UInt8], in directory: String, contents: [UInt8]) throws {
        let path = Array(directory.utf8) + [UInt8(ascii: "/")] + nameBytes + [0]
        let fd = path.withUnsafeBufferPointer { buffer in
            buffer.withMemoryRebound(to: CChar.self) { open($0.baseAddress!, O_WRONLY | O_CREAT | O_TRUNC, 0o644) }
        }
        guard fd >= 0 else { throw LoomFailure("open of a raw-named file failed: \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        let written = contents.withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
        guard written == contents.count else { throw LoomFailure("short write to a raw-named file") }
    }

    /// Removes a file whose name is raw bytes.
    static func removeRawNamed(_ nameBytes: [UInt8], in directory: String) {
        let path = Array(directory.utf8) + [UInt8(ascii: "/")] + nameBytes + [0]
        _ = path.withUnsafeBufferPointer { buffer in buffer.withMemoryRebound(to: CChar.self) { unlink($0.baseAddress!) } }
    }

    static func symlink(_ path: String, pointingTo destination: String) throws {
        try FileManager.default.createSymbolicLink(atPath: path, withDestinationPath: destination)
    }

    /// XORs the byte at `offset` of `path` with `mask`, in place.
    static func flipByte(in path: String, at offset: Int, mask: UInt8 = 0xFF) throws {
        let fd = open(path, O_RDWR)
        guard fd >= 0 else { throw LoomFailure("cannot open \(path): \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        var byte: UInt8 = 0
        guard pread(fd, &byte, 1, off_t(offset)) == 1 else { throw LoomFailure("cannot read byte \(offset) of \(path)") }
        byte ^= mask
        guard pwrite(fd, &byte, 1, off_t(offset)) == 1 else { throw LoomFailure("cannot write byte \(offset) of \(path)") }
    }
}
