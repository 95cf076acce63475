import Glibc
import LoomStore

/// A dataset held in memory as (relative path, bytes) entries, ingested without touching the
/// disk: `POST /v1/ingest` feeds its uploads through one.
///
/// The entries form the folder tree a ``DirectorySource`` would walk, and the walk follows the
/// same rules (``DatasetScanner``): the same layouts, split and class folders, names ordered by
/// their bytes, hidden (".*") entries skipped at every level, files at the top not members,
/// folders named like images rejected, the same `maxFiles` bound. Names are kept byte for byte
/// (NFC and NFD spellings are two files). What a folder on disk cannot hold is refused when the
/// source is made: an empty path or segment, a NUL byte, a segment over 255 bytes, a path given
/// twice, a path that is both a file and a folder.
public struct InMemorySource: IngestSource {
    public struct Entry: Sendable {
        /// '/'-separated, relative to the root (`bird/a.jpg`, `train/bird/a.jpg`).
        public var path: String
        public var bytes: [UInt8]

        public init(path: String, bytes: [UInt8]) {
            self.path = path
            self.bytes = bytes
        }
    }

    public let root: String
    /// The modification time every entry reports. An ingest skips a file unread when its size,
    /// time and class match what it stored for that path, so the default is the time the source
    /// is made, as for files written just now: a later upload of the same path is always read.
    public let mtimeNanoseconds: Int64
    private let bytes: [ExactName: [UInt8]]
    private let tree: Folder

    public init(root: String = "memory", entries: [Entry], mtimeNanoseconds: Int64 = InMemorySource.now()) throws {
        self.root = root
        self.mtimeNanoseconds = mtimeNanoseconds
        var bytes: [ExactName: [UInt8]] = [:]
        var tree = Folder()
        for entry in entries {
            let segments = entry.path.split(separator: "/", omittingEmptySubsequences: false)
            if segments.contains(where: \.isEmpty) {
                throw IngestError(.invalidInput, "an entry's path is empty or has an empty segment ('//', or '/' at an end)", path: entry.path)
            }
            if entry.path.utf8.contains(0) { throw IngestError(.invalidInput, "an entry's path holds a NUL byte", path: entry.path) }
            if segments.contains(where: { $0.utf8.count > 255 }) {
                throw IngestError(.invalidInput, "a segment of this path is longer than 255 bytes", path: entry.path)
            }
            guard bytes.updateValue(entry.bytes, forKey: ExactName(entry.path)) == nil else {
                throw IngestError(.invalidInput, "the path is given twice", path: entry.path)
            }
            try tree.insert(segments.map(String.init)[...], size: entry.bytes.count, path: entry.path)
        }
        self.bytes = bytes
        self.tree = tree
    }

    /// Now on the wall clock, in nanoseconds since 1970, as file modification times are kept.
    public static func now() -> Int64 {
        var time = timespec()
        clock_gettime(CLOCK_REALTIME, &time)
        return Int64(time.tv_sec) * 1_000_000_000 + Int64(time.tv_nsec)
    }

    public func scan(split: String?, maxFiles: Int, only: Set<ExactName>?) throws -> DatasetScanner.Result {
        var walk = Walk(source: self, maxFiles: maxFiles, only: only)
        let splitFolders = tree.listing().filter { $0.folder != nil && DatasetScanner.splitFolderNames.contains(ExactName($0.name)) }
        if !splitFolders.isEmpty && split == nil {
            walk.result.layout = "train-val"
            for entry in splitFolders { try walk.split(entry.folder!, relative: entry.name, split: entry.name) }
        } else {
            try walk.split(tree, relative: "", split: split ?? "train")
        }
        try walk.count()
        return walk.result
    }

    public func contents(of file: SourceFile) throws -> [UInt8] {
        guard let found = bytes[ExactName(file.absolutePath)] else {
            throw IngestError(.internal, "not an entry of this in-memory source", path: file.absolutePath)
        }
        return found
    }

    /// None: side files (class names, validation labels) are named by path in the options.
    public func nearbyFile(named name: String) -> String? { nil }

    /// A folder of the tree: its subfolders and its files' sizes, by exact name.
    struct Folder: Sendable {
        var folders: [ExactName: Folder] = [:]
        var files: [ExactName: Int] = [:]

        mutating func insert(_ segments: ArraySlice<String>, size: Int, path: String) throws {
            let name = ExactName(segments.first!)
            if segments.count == 1 {
                guard folders[name] == nil else { throw Self.both(path) }
                files[name] = size
            } else {
                guard files[name] == nil else { throw Self.both(path) }
                try folders[name, default: Folder()].insert(segments.dropFirst(), size: size, path: path)
            }
        }

        static func both(_ path: String) -> IngestError {
            IngestError(.invalidInput, "the entries make a name both a file and a folder", path: path)
        }

        /// Members in byte order of their names, hidden ones left out, as a folder listing gives them.
        func listing() -> [(name: String, folder: Folder?, size: Int)] {
            var members: [(name: String, folder: Folder?, size: Int)] = []
            for (name, folder) in folders where !Self.isHidden(name) { members.append((name.string, folder, 0)) }
            for (name, size) in files where !Self.isHidden(name) { members.append((name.string, nil, size)) }
            return members.sorted { ExactName($0.name) < ExactName($1.name) }
        }

        static func isHidden(_ name: ExactName) -> Bool { name.string.utf8.first == UInt8(ascii: ".") }
    }

    /// One scan's state, mirroring ``DatasetScanner``'s walk over a tree that cannot hold links,
    /// special files or names that are not UTF-8.
    private struct Walk {
        let source: InMemorySource
        let maxFiles: Int
        let only: Set<ExactName>?
        var result = DatasetScanner.Result(layout: "imagefolder")

        init(source: InMemorySource, maxFiles: Int, only: Set<ExactName>?) {
            self.source = source
            self.maxFiles = maxFiles
            self.only = only
        }

        mutating func split(_ folder: Folder, relative: String, split: String) throws {
            result.splits.insert(ExactName(split))
            for member in folder.listing() {
                try count()
                let path = relative.isEmpty ? member.name : relative + "/" + member.name
                if let classFolder = member.folder {
                    if let only, !only.contains(ExactName(member.name)) {
                        result.unlisted.insert(ExactName(member.name))
                        continue
                    }
                    result.classes.insert(ExactName(member.name))
                    try walkClass(classFolder, name: "", relative: path, split: split, wnid: member.name)
                } else if !relative.isEmpty {
                    result.loose.append(file(path: path, name: member.name, split: split, wnid: "", size: member.size))
                }
            }
        }

        private mutating func walkClass(_ folder: Folder, name: String, relative: String, split: String, wnid: String) throws {
            for member in folder.listing() {
                try count()
                let memberName = name.isEmpty ? member.name : name + "/" + member.name
                let path = relative + "/" + member.name
                if let subfolder = member.folder {
                    if DatasetScanner.isNamedLikeImage(member.name) {
                        result.rejected.append(Rejection(path: path, reason: "is a directory, not an image file"))
                    } else {
                        try walkClass(subfolder, name: memberName, relative: path, split: split, wnid: wnid)
                    }
                } else {
                    result.files.append(file(path: path, name: memberName, split: split, wnid: wnid, size: member.size))
                }
            }
        }

        private func file(path: String, name: String, split: String, wnid: String, size: Int) -> SourceFile {
            SourceFile(absolutePath: path, path: path, name: name, split: split, wnid: wnid, size: size,
                       mtimeNanoseconds: source.mtimeNanoseconds)
        }

        func count() throws {
            guard result.files.count + result.loose.count + result.rejected.count > maxFiles else { return }
            throw DatasetScanner.tooManyFiles(maxFiles, root: source.root)
        }
    }
}
