import Glibc
import LoomStore
import Synchronization

/// The pixel memory of batch buffers, kept from one loader to the next.
///
/// A loader runs one epoch, and a batch of 256 images at 224 px is 38.5 MB: over glibc's
/// largest mmap threshold, so `malloc` maps it fresh and `free` unmaps it. Every epoch's ring of
/// batch buffers then met the kernel's page faults and zero-fill again (9% of a pixel-cache
/// epoch's CPU on 2,000 images, in `perf record` of `loom bench loader`). Released buffers wait
/// here instead, with `MADV_FREE`: while memory is plentiful the next loader writes into pages
/// that are still mapped; under pressure the kernel may take them back, and a write then faults
/// in a zeroed page, which costs no more than a fresh map. At most ``keptBytes`` wait in
/// ``shared``, so a long-lived `loom serve` holds no more than that in idle batch memory.
final class BatchMemory: Sendable {
    /// The pool every loader in the process shares.
    static let shared = BatchMemory(keptBytes: 1 << 30)

    let keptBytes: Int

    /// Released mappings: address and length (as integers, so the pool is plainly Sendable).
    private let idle = Mutex<[(address: UInt, length: Int)]>([])

    init(keptBytes: Int) { self.keptBytes = keptBytes }

    deinit {
        for entry in idle.withLock({ $0 }) { munmap(UnsafeMutableRawPointer(bitPattern: entry.address), entry.length) }
    }

    /// Bytes released and waiting for reuse.
    var idleBytes: Int { idle.withLock { $0.reduce(0) { $0 + $1.length } } }

    /// Released buffers waiting that a request for `bytes` would get.
    func idleBuffers(forBytes bytes: Int) -> Int {
        let length = roundedLength(bytes)
        return idle.withLock { $0.count { $0.length == length } }
    }

    /// Page-aligned memory of at least `bytes` bytes (a released buffer of the same length when
    /// one waits).
    /// - Throws: ``LoaderError`` when the kernel refuses the mapping even after the idle ones go.
    func take(bytes: Int) throws -> UnsafeMutableRawBufferPointer {
        guard bytes <= Int.max / 2 else { throw LoaderError("a batch buffer of \(bytes) bytes is too large to map", code: .invalidArgument) }
        let length = roundedLength(bytes)
        let reused = idle.withLock { idle -> UInt? in
            guard let index = idle.lastIndex(where: { $0.length == length }) else { return nil }
            return idle.remove(at: index).address
        }
        if let reused, let pointer = UnsafeMutableRawPointer(bitPattern: reused) {
            return UnsafeMutableRawBufferPointer(start: pointer, count: length)
        }
        if let mapped = map(length) { return mapped }
        // Idle buffers of other sizes may be what stands in the way: let them go and try once more.
        for entry in idle.withLock({ idle in defer { idle.removeAll() }; return idle }) {
            munmap(UnsafeMutableRawPointer(bitPattern: entry.address), entry.length)
        }
        if let mapped = map(length) { return mapped }
        throw LoaderError("cannot map \(length) bytes for a batch buffer: \(String(cString: strerror(errno)))", code: .io)
    }

    private func map(_ length: Int) -> UnsafeMutableRawBufferPointer? {
        guard let mapped = mmap(nil, length, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0),
              mapped != MAP_FAILED else { return nil }
        return UnsafeMutableRawBufferPointer(start: mapped, count: length)
    }

    /// Hands back memory from ``take(bytes:)``; kept for the next loader, or unmapped past ``keptBytes``.
    func give(_ buffer: UnsafeMutableRawBufferPointer) {
        guard let base = buffer.baseAddress else { return }
        // Before the buffer is in the pool: once there, another loader may take it and write,
        // and a MADV_FREE after that write would let the kernel drop its pixels.
        _ = madvise(base, buffer.count, MADV_FREE)
        let entry = (address: UInt(bitPattern: base), length: buffer.count)
        let kept = idle.withLock { idle -> Bool in
            guard idle.reduce(0, { $0 + $1.length }) + entry.length <= keptBytes else { return false }
            idle.append(entry)
            return true
        }
        if !kept { munmap(base, buffer.count) }
    }

    /// Whole pages, so every buffer of one batch size has the same length and is reusable.
    private func roundedLength(_ bytes: Int) -> Int {
        let page = Int(getpagesize())
        return (max(bytes, 1) + page - 1) / page * page
    }
}
