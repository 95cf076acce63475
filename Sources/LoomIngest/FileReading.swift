import Glibc

/// Whole-file reads with errors people can act on ("is a directory", "permission denied").
enum FileReading {
    struct Failure: Error, CustomStringConvertible {
        var description: String
    }

    static func readAll(_ path: String) throws -> [UInt8] {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw Failure(description: "cannot open: \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0 else { throw Failure(description: "cannot stat: \(String(cString: strerror(errno)))") }
        if (info.st_mode & S_IFMT) == S_IFDIR { throw Failure(description: "is a directory, not an image file") }
        // Read straight into uninitialised storage: no zero-fill of memory about to be overwritten.
        let total = Int(info.st_size)
        var failure: String? = nil
        let bytes = [UInt8](unsafeUninitializedCapacity: total) { buffer, count in
            var done = 0
            while done < total {
                let n = read(fd, buffer.baseAddress! + done, total - done)
                if n < 0 {
                    if errno == EINTR { continue }
                    failure = "read failed: \(String(cString: strerror(errno)))"
                    break
                }
                if n == 0 { break }
                done += n
            }
            count = done
        }
        if let failure { throw Failure(description: failure) }
        return bytes
    }
}
