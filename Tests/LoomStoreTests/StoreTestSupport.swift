import Foundation
import GRDB
@testable import LoomStore
import LoomTestSupport
import Testing

/// Thrown by test bodies that must fail on purpose.
struct InjectedFailure: Error {}

/// A store in a fresh temporary directory, removed when the object goes away.
///
/// The store closes its catalog before the directory goes (SQLite files should not be deleted
/// under open connections): stored properties are destroyed in declaration order, so `store`
/// comes before `directory`; tests hold any other `Store` or `StoreWriter` in locals declared
/// after their `ScratchStore`.
final class ScratchStore {
    let store: Store
    let layout: StoreLayout
    let directory: TemporaryDirectory

    init() throws {
        let directory = try TemporaryDirectory(prefix: "loom-store-test-")
        let layout = StoreLayout(root: directory.appending("store"))
        store = try Store(layout, access: .readWrite)
        self.layout = layout
        self.directory = directory
    }

    /// Another `Store` over the same files, as a second process would open it (its own catalog
    /// connections and its own shard descriptors).
    func reopen(_ access: Store.Access = .readOnly) throws -> Store {
        try Store(layout, access: access)
    }

    /// A writer whose shards roll over at `targetShardBytes` (explicit, so `$LOOM_SHARD_BYTES` does not matter).
    func makeWriter(targetShardBytes: Int = 1 << 30, writeBufferBytes: Int = 8 << 20) throws -> StoreWriter {
        try store.makeWriter(options: .init(targetShardBytes: targetShardBytes, writeBufferBytes: writeBufferBytes))
    }
}

/// Bytes to store, with their digest.
struct TestBlob: CustomTestStringConvertible {
    var bytes: [UInt8]
    var mediaType: String = "application/octet-stream"
    var digest: Digest { Digest.sha256(bytes) }

    init(_ bytes: [UInt8], mediaType: String = "application/octet-stream") {
        self.bytes = bytes
        self.mediaType = mediaType
    }

    /// Uniformly random (incompressible) bytes, deterministic per seed.
    static func random(_ count: Int, seed: UInt64, mediaType: String = "application/octet-stream") -> TestBlob {
        TestBlob(randomBytes(count, seed: seed), mediaType: mediaType)
    }

    /// Text-like bytes that LZ4 shrinks several times over, distinct per seed.
    static func compressible(_ count: Int, seed: UInt64, mediaType: String = "application/octet-stream") -> TestBlob {
        let line = Array("seed \(seed): the quick brown fox jumps over the lazy dog; loom loom loom\n".utf8)
        return TestBlob((0..<count).map { line[$0 % line.count] }, mediaType: mediaType)
    }

    var testDescription: String { "\(bytes.count) bytes \(mediaType)" }
}

func randomBytes(_ count: Int, seed: UInt64) -> [UInt8] {
    var rng = SeededGenerator(seed: seed)
    var bytes = [UInt8](repeating: 0, count: count)
    bytes.withUnsafeMutableBytes { raw in
        var offset = 0
        while offset < raw.count {
            var word = rng.next()
            let n = min(8, raw.count - offset)
            withUnsafeBytes(of: &word) { raw.baseAddress!.advanced(by: offset).copyMemory(from: $0.baseAddress!, byteCount: n) }
            offset += n
        }
    }
    return bytes
}

extension StoreWriter {
    /// Stages every blob (default policy) and returns where each went.
    @discardableResult
    func stage(_ blobs: [TestBlob], policy: BlobCodec.Policy = .auto) throws -> [Digest: BlobLocation] {
        var locations: [Digest: BlobLocation] = [:]
        for blob in blobs {
            locations[blob.digest] = try blob.bytes.withUnsafeBytes {
                try stage($0, digest: blob.digest, mediaType: blob.mediaType, policy: policy)
            }
        }
        return locations
    }
}

/// One row of `shards`.
struct ShardRow: Equatable {
    var id: Int64
    var committedBytes: Int
    var sealedBytes: Int?
    var name: String { StoreLayout.shardName(id) }
}

func shardRows(_ store: Store) throws -> [ShardRow] {
    try store.catalog.read { db in
        try Row.fetchAll(db, sql: "SELECT id, committed_bytes, sealed_bytes FROM shards ORDER BY id").map {
            ShardRow(id: $0["id"], committedBytes: $0["committed_bytes"], sealedBytes: $0["sealed_bytes"])
        }
    }
}

func count(_ store: Store, _ sql: String) throws -> Int {
    try store.catalog.read { db in try Int.fetchOne(db, sql: sql) ?? -1 }
}

func fileSize(_ path: String) throws -> Int {
    let attributes = try FileManager.default.attributesOfItem(atPath: path)
    return (attributes[.size] as? NSNumber)?.intValue ?? -1
}

func fileExists(_ path: String) -> Bool { FileManager.default.fileExists(atPath: path) }

/// Sum of the sizes of the files under `shards/`.
func shardBytesOnDisk(_ layout: StoreLayout) throws -> Int {
    try FileManager.default.contentsOfDirectory(atPath: layout.shardsDirectory)
        .reduce(0) { $0 + (try fileSize(layout.shardsDirectory + "/" + $1)) }
}

/// Names of the files under `shards/`, sorted.
func shardFilesOnDisk(_ layout: StoreLayout) throws -> [String] {
    try FileManager.default.contentsOfDirectory(atPath: layout.shardsDirectory).sorted()
}

/// Inverts one byte of a file in place (same inode, so open descriptors see it too).
func flipByte(_ path: String, at offset: Int) throws {
    let file = try SystemFile(path: path, mode: .readWrite)
    var byte = try file.read(count: 1, at: offset)
    byte[0] ^= 0xFF
    try byte.withUnsafeBytes { try file.write($0, at: offset) }
}

/// Appends `bytes` to the end of a file.
func append(_ bytes: [UInt8], to path: String) throws {
    let file = try SystemFile(path: path, mode: .readWrite)
    let size = try file.size()
    try bytes.withUnsafeBytes { try file.write($0, at: size) }
}

/// Dataset `ds`, split `train`, class `n01`: inserts a real image row per `(blob id, path)`.
func insertRealImages(_ db: Database, _ images: [(blobID: Int64, path: String)]) throws {
    let dataset = try DatasetCatalog.ensureDataset(db, name: "ds")
    let split = try DatasetCatalog.ensureSplit(db, datasetID: dataset, name: "train")
    let classes = try DatasetCatalog.ensureClasses(db, datasetID: dataset, wnids: ["n01"], names: [:])
    let classID = try #require(classes["n01"]).id
    for image in images {
        try DatasetCatalog.upsertRealImage(db, RealImageRow(
            splitID: split, classID: classID, blobID: image.blobID, path: image.path,
            name: (image.path as NSString).lastPathComponent, width: 1, height: 1, format: "jpeg",
            colorSpace: "rgb", fileSize: 1, mtimeNanoseconds: 0))
    }
}

/// The path `insertRealImages` callers in these tests give blob `index`.
func imagePath(_ index: Int) -> String { "n01/img\(String(format: "%03d", index)).jpg" }
