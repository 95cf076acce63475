import Foundation
import NIOCore

/// A file read or written at offsets with pread/pwrite, so parts of one shard can be read by
/// several uploads at once without sharing a file position.
final class LocalFile: Sendable {
    let path: String
    let descriptor: Int32
    /// Bytes in the file when opened for reading.
    let size: Int64

    init(reading path: String) throws {
        self.path = path
        descriptor = open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { throw ObjectStoreError.local(path, "open", errno: errno) }
        var info = stat()
        guard fstat(descriptor, &info) == 0 else {
            let code = errno
            Glibc.close(descriptor)
            throw ObjectStoreError.local(path, "stat", errno: code)
        }
        size = Int64(info.st_size)
    }

    /// Creates or truncates `path` for writing.
    init(writing path: String) throws {
        self.path = path
        descriptor = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard descriptor >= 0 else { throw ObjectStoreError.local(path, "create", errno: errno) }
        size = 0
    }

    deinit { Glibc.close(descriptor) }

    func read(offset: Int64, length: Int) throws -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: length)
        var done = 0
        while done < length {
            let count = bytes.withUnsafeMutableBytes { buffer in
                pread(descriptor, buffer.baseAddress! + done, length - done, off_t(offset) + off_t(done))
            }
            if count < 0 && errno == EINTR { continue }
            guard count > 0 else {
                if count == 0 { throw ObjectStoreError.local(path, "read \(length) bytes at \(offset) (the file ends first)", errno: EIO) }
                throw ObjectStoreError.local(path, "read", errno: errno)
            }
            done += count
        }
        return bytes
    }

    func write(_ buffer: ByteBuffer, at offset: Int64) throws {
        try buffer.withUnsafeReadableBytes { bytes in
            var done = 0
            while done < bytes.count {
                let count = pwrite(descriptor, bytes.baseAddress! + done, bytes.count - done, off_t(offset) + off_t(done))
                if count < 0 && errno == EINTR { continue }
                guard count > 0 else { throw ObjectStoreError.local(path, "write", errno: errno) }
                done += count
            }
        }
    }

    func sync() throws {
        guard fsync(descriptor) == 0 else { throw ObjectStoreError.local(path, "fsync", errno: errno) }
    }
}
