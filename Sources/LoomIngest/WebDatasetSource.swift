import Foundation
import Glibc
import LoomStore
import LoomTar
import Synchronization

/// WebDataset tar shards as an ingest source (`loom ingest --format webdataset TAR...`).
///
/// A sample is the members of one shard that share a key (the member name up to the first dot
/// of its last path component, as `webdataset` groups them): its image (`KEY.jpg`, `.jpeg`,
/// `.png`, or another image suffix, which validation then rejects by name) and its label, from
/// `KEY.json` `class` (a class id, as `loom export --format webdataset` writes it), else
/// `KEY.cls` (a class id, or a number), else `KEY.json` `label` (a number). Numbers become ids
/// zero-padded to one width, so their byte order is their numeric order and a dataset labelled
/// 0..N-1 keeps its labels. `class_name` in the json names the class.
///
/// The scan reads every shard once with libarchive (labels only; image bytes are skipped). The
/// ingest then asks for images in scan order: the first ask of a shard reads its images in one
/// pass, held until the last of them has been handed out (or two newer shards are loaded), so
/// each shard is read twice, in order, and about one shard's images are in memory at a time.
public final class WebDatasetSource: IngestSource {
    public let root: String
    let shards: [String]
    private let state = Mutex<State>(State())
    /// One lock per shard: two workers asking for one shard wait for one read of it.
    private let shardLocks: [NSLock]

    struct State {
        /// A file's path in the catalog -> (shard, member).
        var members: [String: (shard: Int, member: String)] = [:]
        /// The image members of each shard that the scan kept.
        var images: [Int: Set<String>] = [:]
        /// Images still to hand out, per shard.
        var remaining: [Int: Int] = [:]
        var loaded: [Int: [String: [UInt8]]] = [:]
        /// Loaded shards, oldest first: at most ``keptShards`` stay.
        var loadOrder: [Int] = []
        var names: [ExactName: (name: String, promptName: String)] = [:]
    }

    /// Shards whose images stay in memory at once: the one being handed out and the next.
    static let keptShards = 2

    static let imageSuffixes: Set<String> = ["jpg", "jpeg", "png", "webp", "ppm", "pgm", "pbm", "bmp", "gif", "tif", "tiff"]

    /// - Parameter patterns: tar paths, globs and brace ranges; `not-found` for one matching nothing.
    public init(patterns: [String]) throws {
        guard !patterns.isEmpty else { throw IngestError(.invalidInput, "name at least one tar shard") }
        shards = try ShardPatterns.expand(patterns)
        var seen: [String: String] = [:]
        for shard in shards {
            let base = (shard as NSString).lastPathComponent
            if let other = seen.updateValue(shard, forKey: base) {
                throw IngestError(.invalidInput, "two shards have the file name \(base) (\(other) and \(shard)); image paths are named after it",
                                  path: shard)
            }
        }
        root = patterns.joined(separator: " ")
        shardLocks = shards.map { _ in NSLock() }
    }

    private struct Sample {
        var image: (member: String, suffix: String, size: Int)?
        var wnid: String?
        var number: Int?
        var className: String?
    }

    public func scan(split: String?, maxFiles: Int, only: Set<ExactName>?) throws -> DatasetScanner.Result {
        let split = split ?? "train"
        var result = DatasetScanner.Result(layout: "webdataset")
        result.splits = [ExactName(split)]
        var found: [(shard: Int, key: String, sample: Sample, mtime: Int64)] = []
        for (index, shard) in shards.enumerated() {
            var info = stat()
            guard stat(shard, &info) == 0 else { throw IngestError(.notFound, "cannot read the shard", path: shard) }
            let mtime = Int64(info.st_mtim.tv_sec) * 1_000_000_000 + Int64(info.st_mtim.tv_nsec)
            var samples: [String: Sample] = [:], order: [String] = []
            try TarReader.forEachMember(shard) { member in
                let (key, suffix) = Self.split(member.name)
                guard !key.isEmpty, !suffix.isEmpty else { return }
                if samples[key] == nil { order.append(key) }
                var sample = samples[key] ?? Sample()
                switch suffix {
                case _ where Self.imageSuffixes.contains(suffix) && sample.image == nil:
                    sample.image = (member.name, suffix, member.size)
                case "cls" where member.size <= 4096:
                    let text = String(decoding: try member.contents(), as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
                    if let number = Int(text) { sample.number = sample.number ?? number } else if !text.isEmpty { sample.wnid = sample.wnid ?? text }
                case "json" where member.size <= 1 << 20:
                    let object = (try? JSONSerialization.jsonObject(with: Data(try member.contents()))) as? [String: Any]
                    if let wnid = object?["class"] as? String, !wnid.isEmpty { sample.wnid = wnid }
                    if let number = object?["label"] as? Int, sample.number == nil { sample.number = number }
                    if let name = object?["class_name"] as? String, !name.isEmpty { sample.className = name }
                default:
                    break
                }
                samples[key] = sample
            }
            for key in order { found.append((index, key, samples[key]!, mtime)) }
            if found.count > maxFiles {
                throw IngestError(.invalidInput, "found more than \(maxFiles) samples in the shards and stopped; nothing was ingested (--max-files raises the limit)",
                                  path: shard)
            }
        }

        let width = String(found.compactMap { $0.sample.wnid == nil ? $0.sample.number : nil }.max() ?? 0).count
        var state = State()
        for (shard, key, sample, mtime) in found {
            let stem = ((shards[shard] as NSString).lastPathComponent as NSString).deletingPathExtension
            let location = "\((shards[shard] as NSString).lastPathComponent):\(key)"
            guard let image = sample.image else {
                result.rejected.append(Rejection(path: location, reason: "the sample has no image member (.jpg, .png)"))
                continue
            }
            let wnid: String
            if let named = sample.wnid {
                wnid = named
            } else if let number = sample.number, number >= 0 {
                wnid = String(repeating: "0", count: max(0, width - String(number).count)) + String(number)
            } else {
                result.rejected.append(Rejection(path: location, reason: "the sample has no label (.cls, or class / label in .json)"))
                continue
            }
            if wnid.hasPrefix(".") || wnid.contains("/") {
                result.rejected.append(Rejection(path: location, reason: "class \"\(wnid)\" is not a plain folder name"))
                continue
            }
            let classID = ExactName(wnid)
            if let only, !only.contains(classID) {
                result.unlisted.insert(classID)
                continue
            }
            let name = "\(stem)-\(key.replacingOccurrences(of: "/", with: "-")).\(image.suffix)"
            let path = "\(wnid)/\(name)"
            result.files.append(SourceFile(absolutePath: shards[shard], path: path, name: name, split: split, wnid: wnid,
                                           size: image.size, mtimeNanoseconds: mtime))
            result.classes.insert(classID)
            state.members[path] = (shard, image.member)
            state.images[shard, default: []].insert(image.member)
            state.remaining[shard, default: 0] += 1
            if let className = sample.className, state.names[classID] == nil {
                let prompt = className.split(separator: ",").first.map { $0.trimmingCharacters(in: .whitespaces) } ?? className
                state.names[classID] = (className, prompt.isEmpty ? className : prompt)
            }
        }
        self.state.withLock { $0 = state }
        return result
    }

    public func contents(of file: SourceFile) throws -> [UInt8] {
        guard let (shard, member) = state.withLock({ $0.members[file.path] }) else {
            throw IngestError(.internal, "not a member of the scanned shards", path: file.path)
        }
        shardLocks[shard].lock()
        defer { shardLocks[shard].unlock() }
        if state.withLock({ $0.loaded[shard] == nil }) {
            let wanted = state.withLock { $0.images[shard] ?? [] }
            var images: [String: [UInt8]] = [:]
            try TarReader.forEachMember(shards[shard]) { entry in
                if wanted.contains(entry.name) && images[entry.name] == nil { images[entry.name] = try entry.contents() }
            }
            state.withLock { state in
                state.loaded[shard] = images
                state.loadOrder.append(shard)
                while state.loadOrder.count > Self.keptShards { state.loaded[state.loadOrder.removeFirst()] = nil }
            }
        }
        return try state.withLock { state in
            guard let bytes = state.loaded[shard]?[member] else {
                throw IngestError(.invalidInput, "member \(member) is no longer in the shard (was it rewritten?)", path: shards[shard])
            }
            state.remaining[shard, default: 1] -= 1
            if state.remaining[shard] == 0 {
                state.loaded[shard] = nil
                state.loadOrder.removeAll { $0 == shard }
            }
            return bytes
        }
    }

    public func nearbyFile(named name: String) -> String? { nil }

    public var classNames: [ExactName: (name: String, promptName: String)]? { state.withLock { $0.names } }

    /// Hash shares would send every process through every tar: several processes of one fleet
    /// ingest each read the shards whole and dedup by content instead.
    public var sharesFiles: Bool { false }

    /// A member name's key (the name up to the first dot of its last component) and suffix
    /// (the rest, lower-cased): `dir/000123.seg.png` -> (`dir/000123`, `seg.png`).
    static func split(_ name: String) -> (key: String, suffix: String) {
        let slash = name.lastIndex(of: "/").map { name.index(after: $0) } ?? name.startIndex
        guard let dot = name[slash...].firstIndex(of: ".") else { return (name, "") }
        return (String(name[..<dot]), name[name.index(after: dot)...].lowercased())
    }
}
