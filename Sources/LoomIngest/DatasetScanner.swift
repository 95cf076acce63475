import Glibc

/// A file found in a dataset folder, waiting to be ingested.
public struct SourceFile: Sendable, Hashable {
    public var absolutePath: String
    /// Relative to the ingest root, '/'-separated; unique within a split.
    public var path: String
    /// Relative to the class folder (what `loom export` recreates).
    public var name: String
    public var split: String
    public var wnid: String
    public var size: Int
    public var mtimeNanoseconds: Int64
}

/// A file that will not be ingested, and why.
public struct Rejection: Codable, Sendable, Hashable {
    public var path: String
    public var reason: String

    public init(path: String, reason: String) {
        self.path = path
        self.reason = reason
    }
}

/// Walks a dataset folder in one of two layouts:
/// - ImageFolder: `ROOT/<class>/**` (the split comes from `--split`);
/// - train/val: `ROOT/<split>/<class>/**` for split folders named `train`, `val`, `validation`
///   or `test` (ImageNet's layout).
///
/// Class folders are walked recursively, as torchvision's `ImageFolder` does. Every entry below
/// a class folder is either a candidate file or a ``Rejection``: directories named like images,
/// broken links, link loops, special files, names that are not UTF-8. Hidden entries (".*") are
/// skipped; files at the top of ROOT (such as `LOC_synset_mapping.txt`) are not dataset members.
/// Entries are sorted by name so every run sees the same order.
public struct DatasetScanner {
    public static let splitFolderNames: Set<String> = ["train", "val", "validation", "test"]
    static let imageExtensions: Set<String> = ["jpg", "jpeg", "png", "jpe", "jfif", "gif", "webp", "bmp", "tif", "tiff"]

    public struct Result: Sendable {
        public var layout: String
        public var files: [SourceFile] = []
        public var rejected: [Rejection] = []
        public var classes: Set<String> = []
        public var splits: Set<String> = []
    }

    public let root: String
    public let split: String?

    public init(root: String, split: String?) {
        var trimmed = root
        while trimmed.count > 1 && trimmed.hasSuffix("/") { trimmed.removeLast() }
        self.root = trimmed
        self.split = split
    }

    public func scan() throws -> Result {
        try Self.checkRoot(root)
        guard let top = try listDirectory(root, relative: "", rejected: nil) else {
            throw IngestError("cannot read the dataset folder: \(String(cString: strerror(errno)))", path: root)
        }
        let splitDirectories = top.filter { $0.isDirectory && Self.splitFolderNames.contains($0.name) }
        var result: Result
        if !splitDirectories.isEmpty && split == nil {
            result = Result(layout: "train-val")
            for entry in splitDirectories {
                walkSplit(entry.absolutePath, relative: entry.name, split: entry.name, into: &result)
            }
        } else {
            result = Result(layout: "imagefolder")
            walkSplit(root, relative: "", split: split ?? "train", into: &result)
        }
        return result
    }

    /// Fails unless `root` is a readable directory, saying which of those it is not.
    public static func checkRoot(_ root: String) throws {
        var info = stat()
        guard stat(root, &info) == 0 else {
            throw IngestError("cannot use as a dataset folder: \(String(cString: strerror(errno)))", path: root)
        }
        guard (info.st_mode & S_IFMT) == S_IFDIR else {
            throw IngestError("is not a directory (ingest takes a dataset folder)", path: root)
        }
    }

    private func walkSplit(_ directory: String, relative: String, split: String, into result: inout Result) {
        result.splits.insert(split)
        guard let entries = try? listDirectory(directory, relative: relative, rejected: &result.rejected) else { return }
        for entry in entries {
            if entry.isDirectory {
                result.classes.insert(entry.name)
                var visited: Set<FileID> = [entry.id]
                walkClass(entry.absolutePath, relative: entry.relative, name: "", split: split, wnid: entry.name,
                          visited: &visited, into: &result)
            } else if !relative.isEmpty {
                result.rejected.append(Rejection(path: entry.relative, reason: "not inside a class folder"))
            }
        }
    }

    private func walkClass(_ directory: String, relative: String, name: String, split: String, wnid: String,
                           visited: inout Set<FileID>, into result: inout Result) {
        guard let entries = try? listDirectory(directory, relative: relative, rejected: &result.rejected) else { return }
        for entry in entries {
            let memberName = name.isEmpty ? entry.name : name + "/" + entry.name
            if entry.isDirectory {
                let ext = entry.name.split(separator: ".").last.map { $0.lowercased() } ?? ""
                if entry.name.contains("."), Self.imageExtensions.contains(ext) {
                    result.rejected.append(Rejection(path: entry.relative, reason: "is a directory, not an image file"))
                } else if visited.contains(entry.id) {
                    result.rejected.append(Rejection(path: entry.relative, reason: "directory link loop (already visited)"))
                } else {
                    visited.insert(entry.id)
                    walkClass(entry.absolutePath, relative: entry.relative, name: memberName, split: split, wnid: wnid,
                              visited: &visited, into: &result)
                }
            } else {
                result.files.append(SourceFile(
                    absolutePath: entry.absolutePath, path: entry.relative, name: memberName, split: split, wnid: wnid,
                    size: entry.size, mtimeNanoseconds: entry.mtimeNanoseconds))
            }
        }
    }

    struct FileID: Hashable { var device: UInt64; var inode: UInt64 }

    struct Entry {
        var name: String
        var absolutePath: String
        var relative: String
        var isDirectory: Bool
        var id: FileID
        var size: Int
        var mtimeNanoseconds: Int64
    }

    /// Lists `directory` (sorted, hidden entries skipped), following links; entries that cannot
    /// be members are appended to `rejected`. Returns nil when `directory` cannot be opened
    /// (recorded in `rejected` when given).
    private func listDirectory(_ directory: String, relative: String, rejected: UnsafeMutablePointer<[Rejection]>?) throws -> [Entry]? {
        guard let dir = opendir(directory) else {
            let reason = String(cString: strerror(errno))
            rejected?.pointee.append(Rejection(path: relative.isEmpty ? directory : relative, reason: "cannot open directory: \(reason)"))
            return nil
        }
        defer { closedir(dir) }
        var names: [[UInt8]] = []
        while let item = readdir(dir) {
            let bytes = withUnsafeBytes(of: item.pointee.d_name) { raw in Array(raw.prefix(while: { $0 != 0 })) }
            if bytes.first == UInt8(ascii: ".") { continue }
            names.append(bytes)
        }
        names.sort { $0.lexicographicallyPrecedes($1) }
        var entries: [Entry] = []
        for bytes in names {
            guard let name = String(validating: bytes, as: UTF8.self) else {
                let shown = Self.escaped(bytes)
                rejected?.pointee.append(Rejection(
                    path: relative.isEmpty ? shown : relative + "/" + shown, reason: "file name is not valid UTF-8"))
                continue
            }
            let absolute = directory + "/" + name
            let memberPath = relative.isEmpty ? name : relative + "/" + name
            var info = stat()
            if stat(absolute, &info) != 0 {
                let code = errno
                var linkInfo = stat()
                let isLink = lstat(absolute, &linkInfo) == 0 && (linkInfo.st_mode & S_IFMT) == S_IFLNK
                let reason: String
                switch code {
                case ELOOP: reason = "symbolic link loop"
                case ENOENT where isLink: reason = "broken symbolic link"
                default: reason = "cannot stat: \(String(cString: strerror(code)))"
                }
                rejected?.pointee.append(Rejection(path: memberPath, reason: reason))
                continue
            }
            let type = info.st_mode & S_IFMT
            guard type == S_IFDIR || type == S_IFREG else {
                rejected?.pointee.append(Rejection(path: memberPath, reason: "not a regular file"))
                continue
            }
            let mtime = Int64(info.st_mtim.tv_sec) * 1_000_000_000 + Int64(info.st_mtim.tv_nsec)
            entries.append(Entry(
                name: name, absolutePath: absolute, relative: memberPath, isDirectory: type == S_IFDIR,
                id: FileID(device: UInt64(info.st_dev), inode: UInt64(info.st_ino)), size: Int(info.st_size),
                mtimeNanoseconds: mtime))
        }
        return entries
    }

    /// A non-UTF-8 name shown with its invalid bytes as `\xNN`.
    static func escaped(_ bytes: [UInt8]) -> String {
        bytes.map { (0x20..<0x7F).contains($0) ? String(UnicodeScalar($0)) : "\\x" + String($0, radix: 16, uppercase: true) }.joined()
    }
}
