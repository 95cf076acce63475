import Glibc

/// The store's single-writer lock: an exclusive `flock` on `STORE/writer.lock`, held for the
/// lifetime of the object and released in `deinit` (or by the kernel when the process dies,
/// which is what makes `kill -9` safe: no stale lock to clean up).
final class StoreLock {
    private let fd: Int32

    init(path: String) throws {
        // `self.fd` is set only once the lock is held: a throw after every stored property is
        // initialized still runs `deinit`, which would close the descriptor a second time (and
        // with it whatever another thread had opened under the same number in between).
        let fd = try SystemFile.retrying("open", path) { open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644) }
        if flock(fd, LOCK_EX | LOCK_NB) != 0 {
            let code = errno
            var holder = [UInt8](repeating: 0, count: 32)
            let n = pread(fd, &holder, holder.count, 0)
            close(fd)
            let pid = n > 0 ? String(decoding: holder[0..<n], as: UTF8.self).trimmingWhitespace : "?"
            if code == EWOULDBLOCK {
                throw StoreError(.locked, "another loom process (pid \(pid)) is writing to this store; wait for it or stop it", path: path)
            }
            throw StoreError(.io, "flock: \(String(cString: strerror(code)))", path: path)
        }
        let pid = Array("\(getpid())\n".utf8)
        _ = ftruncate(fd, 0)
        _ = pwrite(fd, pid, pid.count, 0)
        self.fd = fd
    }

    deinit {
        flock(fd, LOCK_UN)
        close(fd)
    }
}

extension String {
    var trimmingWhitespace: String {
        String(self.drop(while: \.isWhitespace).reversed().drop(while: \.isWhitespace).reversed())
    }
}
