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
        var bytes = [UInt8](repeating: 0, count: Int(info.st_size))
        var done = 0
        let total = bytes.count
        while done < total {
            let n = bytes.withUnsafeMutableBytes { read(fd, $0.baseAddress! + done, total - done) }
            if n < 0 {
                if errno == EINTR { continue }
                throw Failure(description: "read failed: \(String(cString: strerror(errno)))")
            }
            if n == 0 { break }
            done += n
        }
        if done < total { bytes.removeLast(total - done) }
        return bytes
    }
}
