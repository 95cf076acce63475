import Glibc

/// Writes export output so that re-running an export is cheap and a killed run leaves no
/// half-written file under a real name.
///
/// Each file goes to a hidden temporary name in the same directory and is renamed into place,
/// so a reader sees the old file or the whole new one. There is no fsync: a dataset export can
/// simply be run again, and 70,000 fsyncs would make it take minutes.
enum OutputFile {
    /// Writes `bytes` to `directory/name` unless a regular file of the same size is already there.
    /// - Returns: true when the file was written, false when it was skipped.
    static func store(_ bytes: [UInt8], directory: String, name: String) throws -> Bool {
        let path = directory + "/" + name
        var info = stat()
        if stat(path, &info) == 0, info.st_mode & S_IFMT == S_IFREG, Int(info.st_size) == bytes.count {
            return false
        }
        let temporary = directory + "/." + name + ".tmp-\(getpid())"
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
            try retrying("rename into place", path) { rename(temporary, path) }
        } catch {
            // Never close twice: another thread may already own the descriptor number.
            if isOpen { close(fd) }
            unlink(temporary)
            throw error
        }
        return true
    }

    /// Creates `path` and its parents; an existing directory is fine.
    static func makeDirectory(_ path: String) throws {
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
