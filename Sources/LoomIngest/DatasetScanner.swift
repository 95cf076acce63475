import Glibc
import LoomStore

/// A file found in a dataset folder, waiting to be ingested.
public struct SourceFile: Sendable {
    /// Where its source finds it: a path on disk, or the entry's path in an ``InMemorySource``.
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
/// broken links, link loops, directory links that lead out of ROOT (unless `followLinks`),
/// special files, names that are not UTF-8, folders that cannot be read. Hidden entries (".*")
/// are skipped; files at the top of ROOT (such as `LOC_synset_mapping.txt`) are not dataset
/// members. Files directly inside a split folder (ImageNet ships `val/` and `test/` flat) are
/// set aside as ``Result/loose`` for the ingest to label or reject. Entries are sorted by the bytes of their names, so every run sees the same order and
/// classes are labelled as torchvision labels them.
public struct DatasetScanner {
    public static let splitFolderNames: Set<ExactName> = ["train", "val", "validation", "test"]
    static let imageExtensions: Set<String> = ["jpg", "jpeg", "png", "jpe", "jfif", "gif", "webp", "bmp", "tif", "tiff"]
    /// Enough for ImageNet-21k; a walk that finds more has almost surely left the dataset.
    public static let defaultMaxFiles = 10_000_000

    public struct Result: Sendable {
        public var layout: String
        public var files: [SourceFile] = []
        public var rejected: [Rejection] = []
        /// Class folders that could be read (an unreadable one is a rejection, not an empty class).
        public var classes: Set<ExactName> = []
        public var splits: Set<ExactName> = []
        /// Files directly inside a split folder of the train/val layout; their `wnid` is empty.
        public var loose: [SourceFile] = []
        /// Class folders passed over because they are not among ``DatasetScanner/only``.
        public var unlisted: Set<ExactName> = []
    }

    public let root: String
    public let split: String?
    /// Follow directory links whose target lies outside ROOT (links inside ROOT are always followed).
    public let followLinks: Bool
    /// The walk stops with an error once it has found more entries (files and rejections) than this.
    public let maxFiles: Int
    /// When set, only these class folders are walked (the others are not even listed).
    public let only: Set<ExactName>?

    public init(root: String, split: String?, followLinks: Bool = false, maxFiles: Int = defaultMaxFiles,
                only: Set<ExactName>? = nil) {
        var trimmed = root
        while trimmed.count > 1 && trimmed.hasSuffix("/") { trimmed.removeLast() }
        self.root = trimmed
        self.split = split
        self.followLinks = followLinks
        self.maxFiles = maxFiles
        self.only = only
    }

    public func scan() throws -> Result {
        try Self.checkRoot(root)
        guard let realRoot = Self.resolved(root) else {
            throw IngestError(.invalidInput, "cannot resolve the dataset folder: \(String(cString: strerror(errno)))", path: root)
        }
        var walk = Walk(scanner: self, realRoot: realRoot)
        guard let top = walk.list(root, relative: "", recordFailure: false) else {
            throw IngestError(.invalidInput, "cannot read the dataset folder: \(String(cString: strerror(errno)))", path: root)
        }
        walk.rejected = []
        let splitDirectories = top.filter { $0.isDirectory && Self.splitFolderNames.contains(ExactName($0.name)) }
        if !splitDirectories.isEmpty && split == nil {
            walk.result.layout = "train-val"
            for entry in splitDirectories where walk.admit(entry) {
                try walk.split(entry.absolutePath, relative: entry.name, split: entry.name)
            }
        } else {
            try walk.split(root, relative: "", split: split ?? "train")
        }
        try walk.count()
        walk.result.rejected = walk.rejected
        return walk.result
    }

    /// Fails unless `root` is a readable directory, saying which of those it is not.
    public static func checkRoot(_ root: String) throws {
        var info = stat()
        guard stat(root, &info) == 0 else {
            let code = errno
            throw IngestError(code == ENOENT || code == ENOTDIR ? .notFound : .invalidInput,
                              "cannot use as a dataset folder: \(String(cString: strerror(code)))", path: root)
        }
        guard (info.st_mode & S_IFMT) == S_IFDIR else {
            throw IngestError(.invalidInput, "is not a directory (ingest takes a dataset folder)", path: root)
        }
    }

    /// `path` with every link resolved (realpath), or nil.
    static func resolved(_ path: String) -> String? {
        guard let pointer = realpath(path, nil) else { return nil }
        defer { free(pointer) }
        return String(cString: pointer)
    }

    /// One walk's state: what was found so far, and where ROOT really is.
    private struct Walk {
        let scanner: DatasetScanner
        let realRoot: String
        var result = Result(layout: "imagefolder")
        var rejected: [Rejection] = []

        init(scanner: DatasetScanner, realRoot: String) {
            self.scanner = scanner
            self.realRoot = realRoot
        }

        mutating func split(_ directory: String, relative: String, split: String) throws {
            guard let entries = list(directory, relative: relative, recordFailure: true) else { return }
            result.splits.insert(ExactName(split))
            for entry in entries where admit(entry) {
                try count()
                if entry.isDirectory {
                    if let only = scanner.only, !only.contains(ExactName(entry.name)) {
                        result.unlisted.insert(ExactName(entry.name))
                        continue
                    }
                    // An unreadable class folder is rejected here, so it never becomes an empty class.
                    guard let members = list(entry.absolutePath, relative: entry.relative, recordFailure: true) else { continue }
                    result.classes.insert(ExactName(entry.name))
                    var visited: Set<FileID> = [entry.id]
                    try walkClass(members, name: "", split: split, wnid: entry.name, visited: &visited)
                } else if !relative.isEmpty {
                    result.loose.append(SourceFile(
                        absolutePath: entry.absolutePath, path: entry.relative, name: entry.name, split: split, wnid: "",
                        size: entry.size, mtimeNanoseconds: entry.mtimeNanoseconds))
                }
            }
        }

        private mutating func walkClass(_ entries: [Entry], name: String, split: String, wnid: String, visited: inout Set<FileID>) throws {
            for entry in entries where admit(entry) {
                try count()
                let memberName = name.isEmpty ? entry.name : name + "/" + entry.name
                if entry.isDirectory {
                    if DatasetScanner.isNamedLikeImage(entry.name) {
                        rejected.append(Rejection(path: entry.relative, reason: "is a directory, not an image file"))
                    } else if visited.contains(entry.id) {
                        rejected.append(Rejection(path: entry.relative, reason: "directory link loop (already visited)"))
                    } else if let members = list(entry.absolutePath, relative: entry.relative, recordFailure: true) {
                        visited.insert(entry.id)
                        try walkClass(members, name: memberName, split: split, wnid: wnid, visited: &visited)
                    }
                } else {
                    result.files.append(SourceFile(
                        absolutePath: entry.absolutePath, path: entry.relative, name: memberName, split: split, wnid: wnid,
                        size: entry.size, mtimeNanoseconds: entry.mtimeNanoseconds))
                }
            }
        }

        /// False, with a rejection, for a directory link out of ROOT that is not to be followed.
        /// (Such links are listed as entries so that a linked `train` folder still decides the layout.)
        mutating func admit(_ entry: Entry) -> Bool {
            guard let target = entry.leadsOutTo else { return true }
            rejected.append(Rejection(
                path: entry.relative, reason: "directory link to \(target) leads out of the dataset folder; not followed (--follow-links follows it)"))
            return false
        }

        /// Stops the walk once it has found more entries than the bound allows.
        func count() throws {
            guard result.files.count + result.loose.count + rejected.count > scanner.maxFiles else { return }
            throw DatasetScanner.tooManyFiles(scanner.maxFiles, root: scanner.root)
        }

        /// Lists `directory` (sorted by name bytes, hidden entries skipped), following links;
        /// entries that cannot be members are rejected. Returns nil when `directory` cannot be
        /// read, which is itself a rejection when `recordFailure`.
        mutating func list(_ directory: String, relative: String, recordFailure: Bool) -> [Entry]? {
            let shownDirectory = relative.isEmpty ? directory : relative
            guard let dir = opendir(directory) else {
                if recordFailure {
                    rejected.append(Rejection(path: shownDirectory, reason: "cannot read folder: \(String(cString: strerror(errno)))"))
                }
                return nil
            }
            defer { closedir(dir) }
            var names: [[UInt8]] = []
            while true {
                errno = 0
                guard let item = readdir(dir) else {
                    // readdir returns nil at the end and on an error; only an error sets errno.
                    guard errno == 0 else {
                        if recordFailure {
                            rejected.append(Rejection(path: shownDirectory, reason: "cannot read folder: \(String(cString: strerror(errno)))"))
                        }
                        return nil
                    }
                    break
                }
                let bytes = withUnsafeBytes(of: item.pointee.d_name) { raw in Array(raw.prefix(while: { $0 != 0 })) }
                if bytes.first == UInt8(ascii: ".") { continue }
                names.append(bytes)
            }
            names.sort { $0.lexicographicallyPrecedes($1) }
            var entries: [Entry] = []
            for bytes in names {
                guard let name = String(validating: bytes, as: UTF8.self) else {
                    let shown = DatasetScanner.escaped(bytes)
                    rejected.append(Rejection(path: relative.isEmpty ? shown : relative + "/" + shown, reason: "file name is not valid UTF-8"))
                    continue
                }
                let absolute = directory + "/" + name
                let memberPath = relative.isEmpty ? name : relative + "/" + name
                // lstat only where it matters (failures and directories): most entries are plain files.
                func isLink() -> Bool {
                    var linkInfo = stat()
                    return lstat(absolute, &linkInfo) == 0 && (linkInfo.st_mode & S_IFMT) == S_IFLNK
                }
                var info = stat()
                if stat(absolute, &info) != 0 {
                    let code = errno
                    let reason: String
                    switch code {
                    case ELOOP: reason = "symbolic link loop"
                    case ENOENT where isLink(): reason = "broken symbolic link"
                    default: reason = "cannot stat: \(String(cString: strerror(code)))"
                    }
                    rejected.append(Rejection(path: memberPath, reason: reason))
                    continue
                }
                let type = info.st_mode & S_IFMT
                guard type == S_IFDIR || type == S_IFREG else {
                    rejected.append(Rejection(path: memberPath, reason: "not a regular file"))
                    continue
                }
                var leadsOutTo: String? = nil
                if type == S_IFDIR, !scanner.followLinks, isLink() {
                    guard let target = DatasetScanner.resolved(absolute) else {
                        rejected.append(Rejection(path: memberPath, reason: "cannot resolve directory link: \(String(cString: strerror(errno)))"))
                        continue
                    }
                    if !DatasetScanner.isInside(target, realRoot) { leadsOutTo = target }
                }
                let mtime = Int64(info.st_mtim.tv_sec) * 1_000_000_000 + Int64(info.st_mtim.tv_nsec)
                entries.append(Entry(
                    name: name, absolutePath: absolute, relative: memberPath, isDirectory: type == S_IFDIR,
                    id: FileID(device: UInt64(info.st_dev), inode: UInt64(info.st_ino)), size: Int(info.st_size),
                    mtimeNanoseconds: mtime, leadsOutTo: leadsOutTo))
            }
            return entries
        }
    }

    /// What a listing that passes `maxFiles` entries throws, whichever source it lists.
    static func tooManyFiles(_ maxFiles: Int, root: String) -> IngestError {
        IngestError(.invalidInput,
                    "found more than \(maxFiles) files below the dataset folder and stopped; nothing was ingested "
                        + "(--max-files raises the limit)", path: root)
    }

    /// A folder with this name is rejected as "a directory, not an image file" (`cat.jpg/`).
    static func isNamedLikeImage(_ name: String) -> Bool {
        let ext = name.split(separator: ".").last.map { $0.lowercased() } ?? ""
        return name.contains(".") && imageExtensions.contains(ext)
    }

    /// Whether the resolved `path` is `root` or below it, comparing bytes at a '/' boundary.
    static func isInside(_ path: String, _ root: String) -> Bool {
        let path = Array(path.utf8), root = Array(root.utf8)
        if root == [UInt8(ascii: "/")] { return true }
        guard path.starts(with: root) else { return false }
        return path.count == root.count || path[root.count] == UInt8(ascii: "/")
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
        /// Where a directory link that leads out of ROOT resolves to (when links are not followed).
        var leadsOutTo: String?
    }

    /// A non-UTF-8 name shown with its invalid bytes as `\xNN`.
    static func escaped(_ bytes: [UInt8]) -> String {
        bytes.map { (0x20..<0x7F).contains($0) ? String(UnicodeScalar($0)) : "\\x" + String($0, radix: 16, uppercase: true) }.joined()
    }
}
