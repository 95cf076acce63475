import Glibc

/// Writes export output so that re-running an export is cheap and a killed run leaves no
/// half-written file under a real name.
///
/// Each file goes to a hidden temporary name in the same directory and is renamed (or, for
/// ``create(_:directory:name:)``, hard-linked) into place, so a reader sees no file, the old
/// one or the whole new one. There is no fsync: an export can simply be run again, and 70,000
/// fsyncs would make it take minutes.
public enum OutputFile {
    /// What ``create(_:directory:name:)`` did.
    public enum Outcome: Sendable {
        case written
        /// The file was already there with exactly these bytes.
        case identical
    }

    /// Writes `bytes` to `directory/name` when nothing has that name yet, and never replaces
    /// anything: a file with exactly these bytes is left as it is (a re-run), and any other
    /// entry (other bytes, a directory, a link) is an error naming it.
    ///
    /// The new file is linked into place from its temporary name: `link` fails when the name
    /// exists, atomically, where a check followed by `rename` could replace a file created in
    /// between. File systems without hard links (FAT, some FUSE mounts) get that check and `rename`.
    public static func create(_ bytes: [UInt8], directory: String, name: String) throws -> Outcome {
        let path = directory + "/" + name
        if try holds(path, bytes) { return .identical }
        let temporary = try writeTemporary(bytes, directory: directory, name: name)
        defer { unlink(temporary) }
        if link(temporary, path) == 0 { return .written }
        let code = errno
        switch code {
        case EEXIST:
            if try holds(path, bytes) { return .identical }
            throw DatasetError("exists with other content; refusing to overwrite it", path: path)
        case EPERM, EOPNOTSUPP, ENOSYS, EMLINK:
            if try holds(path, bytes) { return .identical }
            try retrying("rename into place", path) { rename(temporary, path) }
            return .written
        default:
            throw DatasetError("cannot create: \(String(cString: strerror(code)))", path: path)
        }
    }

    /// Whether `path` is a regular file holding exactly `bytes`: false when nothing is there,
    /// an error naming the path when something else is.
    private static func holds(_ path: String, _ bytes: [UInt8]) throws -> Bool {
        var info = stat()
        guard lstat(path, &info) == 0 else {
            if errno == ENOENT { return false }
            throw DatasetError("cannot check: \(String(cString: strerror(errno)))", path: path)
        }
        guard info.st_mode & S_IFMT == S_IFREG else {
            throw DatasetError("exists and is not a regular file; refusing to replace it", path: path)
        }
        guard Int(info.st_size) == bytes.count else {
            throw DatasetError("exists with other content; refusing to overwrite it", path: path)
        }
        let fd = try retrying("open", path) { open(path, O_RDONLY | O_CLOEXEC) }
        defer { close(fd) }
        var existing = [UInt8](repeating: 0, count: bytes.count)
        var done = 0
        while done < existing.count {
            let n = try existing.withUnsafeMutableBytes { raw in
                try retrying("read", path) { read(fd, raw.baseAddress! + done, raw.count - done) }
            }
            if n == 0 { break }
            done += n
        }
        guard done == bytes.count, existing == bytes else {
            throw DatasetError("exists with other content; refusing to overwrite it", path: path)
        }
        return true
    }

    /// Writes `bytes` to `directory/name` unless a regular file of the same size is already there.
    /// - Returns: true when the file was written, false when it was skipped.
    static func store(_ bytes: [UInt8], directory: String, name: String) throws -> Bool {
        let path = directory + "/" + name
        var info = stat()
        if stat(path, &info) == 0, info.st_mode & S_IFMT == S_IFREG, Int(info.st_size) == bytes.count {
            return false
        }
        let temporary = try writeTemporary(bytes, directory: directory, name: name)
        do {
            try retrying("rename into place", path) { rename(temporary, path) }
        } catch {
            unlink(temporary)
            throw error
        }
        return true
    }

    /// Writes `bytes` to a hidden temporary file next to `directory/name` and returns its path.
    private static func writeTemporary(_ bytes: [UInt8], directory: String, name: String) throws -> String {
        // Not derived from `name`: a 255-byte name plus a suffix would be too long.
        let temporary = directory + "/.loom-tmp-\(getpid())-" + String(UInt64.random(in: 0...UInt64.max), radix: 36)
        let fd = try retrying("create", temporary) { open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644) }
        var isOpen = true
        do {
            try bytes.withUnsafeBytes { (raw) in
                var done = 0
                while done < raw.count {
                    done += try retrying("write", temporary) { Glibc.write(fd, raw.baseAddress! + done, raw.count - done) }
                }
            }
            isOpen = false
            if close(fd) != 0 { throw DatasetError("cannot write: \(String(cString: strerror(errno)))", path: temporary) }
        } catch {
            // Never close twice: another thread may already own the descriptor number.
            if isOpen { close(fd) }
            unlink(temporary)
            throw error
        }
        return temporary
    }

    /// Creates `path` and its parents; an existing directory is fine.
    public static func makeDirectory(_ path: String) throws {
        var prefix = path.hasPrefix("/") ? "" : "."
        for component in path.split(separator: "/") {
            prefix += "/" + component
            if mkdir(prefix, 0o755) != 0 {
                let code = errno
                // mkdir may report EACCES or EROFS for a directory that already exists.
                guard isDirectory(prefix) else {
                    let reason = code == EEXIST ? "exists and is not a directory" : String(cString: strerror(code))
                    throw DatasetError("cannot create directory: \(reason)", path: prefix)
                }
            }
        }
    }

    private static func isDirectory(_ path: String) -> Bool {
        var info = stat()
        return stat(path, &info) == 0 && info.st_mode & S_IFMT == S_IFDIR
    }

    /// Runs `call` until it stops failing with EINTR; other failures name the step and the path.
    @discardableResult
    private static func retrying<T: BinaryInteger>(_ step: String, _ path: String, _ call: () -> T) throws -> T {
        while true {
            let result = call()
            if result >= 0 { return result }
            let code = errno
            if code == EINTR { continue }
            throw DatasetError("cannot \(step): \(String(cString: strerror(code)))", path: path)
        }
    }
}
