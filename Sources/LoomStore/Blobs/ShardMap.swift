import Glibc
import Synchronization

/// A read-only mapping of one shard file, so that a record can be read where it lies in the page
/// cache instead of being copied out of it.
///
/// The mapping reaches ``reserve`` bytes past the file's size when it was made: records appended
/// later (an open shard grows) are read through the same mapping, with no remap. Only bytes below
/// a size seen by `fstat` are ever touched, because touching a page past the end of the file
/// raises `SIGBUS`: ``covers(_:)`` answers from the last size seen and looks again when a record
/// lies past it. A shard Loom never shrinks below a committed record (recovery and a failed
/// commit cut only uncommitted tails), so what remains is a shard another program truncates while
/// it is being read. `pread` would report that as a short read, the mapping ends the process;
/// that is why the loader maps only its pixel-cache reads (``BlobReader/withRecord(_:buffer:_:)``).
final class ShardMap: Sendable {
    /// Address space reserved past the file's end for appended records; virtual only, and 48-bit
    /// address space holds a hundred thousand shards' worth.
    static let reserve = 1 << 30

    let file: SystemFile
    /// The mapping's base address, as an integer so the class stays `Sendable`; nothing writes
    /// through it (`PROT_READ`).
    private let base: UInt
    let length: Int
    private let seenSize: Atomic<Int>

    /// Maps `file`; nil when the kernel refuses (the caller then reads with `pread`).
    init?(file: SystemFile) {
        guard let size = try? file.size() else { return nil }
        let length = size + Self.reserve
        guard let address = mmap(nil, length, PROT_READ, MAP_SHARED, file.fd, 0), address != MAP_FAILED else { return nil }
        self.file = file
        self.base = UInt(bitPattern: address)
        self.length = length
        self.seenSize = Atomic(size)
    }

    deinit { munmap(UnsafeMutableRawPointer(bitPattern: base), length) }

    /// The mapped bytes of `range`, or nil when the file does not reach its end (then the caller's
    /// `pread` names the short read) or the mapping does not (the caller maps the shard afresh).
    func bytes(_ range: Range<Int>) -> UnsafeRawBufferPointer? {
        guard range.lowerBound >= 0, range.upperBound <= length, covers(range.upperBound) else { return nil }
        return UnsafeRawBufferPointer(start: UnsafeRawPointer(bitPattern: base)! + range.lowerBound, count: range.count)
    }

    private func covers(_ end: Int) -> Bool {
        if end <= seenSize.load(ordering: .relaxed) { return true }
        guard let size = try? file.size() else { return false }
        seenSize.store(size, ordering: .relaxed)
        return end <= size
    }
}
