import Foundation
import LoomTar

/// Writes samples as WebDataset tar shards: `NAME-000000.tar`, `NAME-000001.tar`, ... in `directory`,
/// each sample its members `KEY.EXT` side by side (`webdataset.WebDataset` groups members by the
/// part of their name before the first dot), a shard closed once the next sample would take it
/// past `shardBytes` (a sample bigger than that gets a shard of its own).
///
/// Shards are built whole in memory and put in place through ``OutputFile/create(_:directory:name:)``,
/// so a shard is there whole or not at all, a re-run leaves identical shards as they are, and a
/// shard with other bytes under the same name is an error rather than overwritten.
public struct WebDatasetWriter {
    public struct Summary: Sendable, Codable, Equatable {
        public var shards: [String] = []
        public var samples = 0
        public var bytes = 0
        /// Shards written by this run; the others were already there with the same bytes.
        public var written = 0
        public var unchanged = 0
    }

    public let directory: String
    public let name: String
    public let shardBytes: Int
    private var archive = TarArchive()
    private var samplesInShard = 0
    public private(set) var summary = Summary()

    public init(directory: String, name: String, shardBytes: Int) throws {
        guard !name.isEmpty, !name.contains("/"), !name.hasPrefix(".") else {
            throw DatasetError("shard name \"\(name)\" must be a plain file name prefix", path: directory)
        }
        try OutputFile.makeDirectory(directory)
        self.directory = directory
        self.name = name
        self.shardBytes = max(1, shardBytes)
    }

    /// Adds one sample: `members` are (extension, bytes), e.g. ("jpg", ...), ("cls", "3").
    public mutating func add(key: String, members: [(String, [UInt8])]) throws {
        guard !key.isEmpty, !key.contains("."), !key.contains("/") else {
            throw DatasetError("sample key \"\(key)\" may not be empty or hold a dot or a slash (WebDataset splits names at the first dot)",
                               path: directory)
        }
        let size = members.reduce(0) { $0 + TarArchive.memberSize($1.1.count) }
        if samplesInShard > 0 && archive.bytes.count + size + TarArchive.endSize > shardBytes { try closeShard() }
        for (suffix, contents) in members { try archive.append(name: "\(key).\(suffix)", contents: contents) }
        samplesInShard += 1
        summary.samples += 1
    }

    /// Writes the last shard; returns what the export did.
    public mutating func finish() throws -> Summary {
        if samplesInShard > 0 { try closeShard() }
        return summary
    }

    /// `NAME-%06d.tar`.
    public static func shardName(_ name: String, _ index: Int) -> String {
        let digits = String(index)
        return name + "-" + String(repeating: "0", count: max(0, 6 - digits.count)) + digits + ".tar"
    }

    private mutating func closeShard() throws {
        let file = Self.shardName(name, summary.shards.count)
        let bytes = archive.finished()
        switch try OutputFile.create(bytes, directory: directory, name: file) {
        case .written: summary.written += 1
        case .identical: summary.unchanged += 1
        }
        summary.shards.append(file)
        summary.bytes += bytes.count
        archive = TarArchive()
        samplesInShard = 0
    }
}
