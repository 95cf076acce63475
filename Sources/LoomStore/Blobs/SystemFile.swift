import CWriteback
import Glibc

/// An owned file descriptor with positioned I/O; closed in `deinit`.
///
/// Every syscall goes through ``retrying(_:_:)``, which reads `errno` at once and retries on
/// `EINTR`. Positioned reads and writes (`pread`/`pwrite`) let many threads share one descriptor
/// without a shared file offset, so the class is `Sendable`: its only state is the immutable fd.
public final class SystemFile: Sendable {
    public let path: String
    let fd: Int32

    public enum Mode: Sendable { case readOnly, readWrite, createReadWrite }

    public init(path: String, mode: Mode) throws {
        self.path = path
        let flags: Int32
        switch mode {
        case .readOnly: flags = O_RDONLY
        case .readWrite: flags = O_RDWR
        case .createReadWrite: flags = O_RDWR | O_CREAT | O_EXCL
        }
        fd = try Self.retrying("open", path) { open(path, flags | O_CLOEXEC, 0o644) }
    }

    deinit { close(fd) }

    /// Reads exactly `buffer.count` bytes at `offset`.
    /// - Throws: `StoreError.corrupt` when the file ends first (a short file is damage, not EOF).
    public func read(into buffer: UnsafeMutableRawBufferPointer, at offset: Int) throws {
        var done = 0
        while done < buffer.count {
            let n = try Self.retrying("pread", path) {
                pread(fd, buffer.baseAddress! + done, buffer.count - done, off_t(offset + done))
            }
            if n == 0 {
                throw StoreError(.corrupt, "file ends at \(offset + done), expected \(buffer.count - done) more bytes at offset \(offset)", path: path)
            }
            done += n
        }
    }

    public func read(count: Int, at offset: Int) throws -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: count)
        try bytes.withUnsafeMutableBytes { try read(into: $0, at: offset) }
        return bytes
    }

    /// Writes all of `bytes` at `offset`.
    public func write(_ bytes: UnsafeRawBufferPointer, at offset: Int) throws {
        var done = 0
        while done < bytes.count {
            let n = try Self.retrying("pwrite", path) {
                pwrite(fd, bytes.baseAddress! + done, bytes.count - done, off_t(offset + done))
            }
            done += n
        }
    }

    /// Makes written data durable (`fdatasync`): the shard's bytes must be on disk before the
    /// catalog commits rows that point at them.
    public func syncData() throws {
        _ = try Self.retrying("fdatasync", path) { fdatasync(fd) }
    }

    /// Starts writing `length` bytes at `offset` to disk without waiting (`sync_file_range`), so
    /// that a later ``syncData()`` finds part of them written already. Advisory: a failure
    /// (a file system without it) changes nothing, since ``syncData()`` alone makes bytes durable.
    public func startWriteback(offset: Int, length: Int) {
        _ = loom_start_writeback(fd, Int64(offset), Int64(length))
    }

    public func truncate(to size: Int) throws {
        _ = try Self.retrying("ftruncate", path) { ftruncate(fd, off_t(size)) }
    }

    public func size() throws -> Int {
        var info = stat()
        _ = try Self.retrying("fstat", path) { fstat(fd, &info) }
        return Int(info.st_size)
    }

    /// Runs `call` until it stops failing with EINTR; any other failure becomes a `StoreError`
    /// naming the call, the path and `strerror(errno)`, read before anything else can change it.
    @discardableResult
    static func retrying<T: BinaryInteger>(_ name: String, _ path: String, _ call: () -> T) throws -> T {
        while true {
            let result = call()
            if result >= 0 { return result }
            let code = errno
            if code == EINTR { continue }
            throw StoreError(code == ENOENT ? .notFound : .io, "\(name): \(String(cString: strerror(code)))", path: path)
        }
    }

    /// fsyncs a directory so a file created or renamed in it survives a crash.
    public static func syncDirectory(_ path: String) throws {
        let fd = try retrying("open", path) { open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC) }
        defer { close(fd) }
        _ = try retrying("fsync", path) { fsync(fd) }
    }
}
