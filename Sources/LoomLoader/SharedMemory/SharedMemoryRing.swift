import Foundation
import Glibc
import Synchronization

/// A failure of the shared-memory ring: what went wrong, and for a syscall, which one and its errno.
public struct SharedMemoryRingError: Error, CustomStringConvertible {
    public struct Code: Hashable, Sendable {
        let rawValue: Int
        /// A syscall failed (`errno` says why) or the name is taken.
        public static let system = Code(rawValue: 1)
        /// A bad name or a batch that does not fit.
        public static let invalidArgument = Code(rawValue: 2)
    }

    public var code: Code
    public var message: String
    public var errno: Int32?

    init(_ code: Code, _ message: String, errno: Int32? = nil) {
        self.code = code
        self.message = message
        self.errno = errno
    }

    public var description: String {
        guard let errno else { return message }
        return "\(message): \(String(cString: strerror(errno)))"
    }
}

/// The producer side of a shared-memory batch ring: `loom stream --shm NAME` writes the loader's
/// batches into `/dev/shm/NAME`, and a trainer on the same machine maps the file and reads them
/// in place (`loom_client.ShmRing`, numpy views, no copies and no socket).
///
/// The protocol (docs/batch-stream.md has the byte layout, ``SharedMemoryRingLayout`` the offsets):
///
/// - Batch `k` goes into slot `k % slotCount`. Before writing it the producer waits until
///   `k - consumed < slotCount`, so a slot is never overwritten before the consumer released
///   it; a full ring stops the producer (backpressure), which stops the loader.
/// - Writing batch `k`: the slot's sequence becomes `2k+1`, then the payload is written, then
///   the sequence becomes `2k+2` (release), then `produced` becomes `k+1` (release). A reader
///   that sees `produced > k` (acquire) finds the slot complete with sequence `2k+2`; an odd or
///   other sequence means a torn or stale slot, which a correct producer never shows.
/// - The consumer releases batch `k` by storing `consumed = k+1`.
/// - At the end the producer sets `state` to done (or failed, with a message); a consumer that
///   stops early sets `consumer_closed` (or exits), and the producer stops too.
///
/// Owns the descriptor and the mapping: `deinit` unmaps and closes. The name stays in
/// `/dev/shm` until ``unlink()`` (the consumer unlinks once it has read everything).
public struct SharedMemoryRing: ~Copyable {
    public let name: String
    public let layout: SharedMemoryRingLayout
    private let descriptor: Int32
    private let base: UnsafeMutableRawPointer
    /// Batches published so far.
    public private(set) var produced = 0
    /// Polled while waiting for a free slot: a producer whose run was stopped must not wait for a
    /// consumer that never attaches (the consumer's death is noticed only once it attached).
    private let isCancelled: (@Sendable () -> Bool)?

    /// `/dev/shm/NAME`, where POSIX shared memory lives on Linux.
    public static func path(_ name: String) -> String { "/dev/shm/" + name }

    /// A plain file name: no `/`, not `.` or `..`, no NUL, at most 200 bytes.
    public static func checkName(_ name: String) throws(SharedMemoryRingError) {
        guard !name.isEmpty, name.utf8.count <= 200, name != ".", name != "..",
              !name.contains("/"), !name.utf8.contains(0) else {
            throw SharedMemoryRingError(.invalidArgument, "shared-memory name \"\(name)\" must be a plain file name (no '/', not '.' or '..', at most 200 bytes)")
        }
    }

    /// Creates `/dev/shm/NAME` (`shm_open` with `O_CREAT | O_EXCL`: an existing ring is never
    /// overwritten under a reader), sizes it (`ftruncate`), maps it (`mmap`) and writes the header,
    /// the magic last, so a reader that sees the magic sees every other field.
    /// - Parameters:
    ///   - batchCount: batches this stream will publish (a reader can size its loop).
    ///   - startCursor: the resume token where the stream starts.
    ///   - isCancelled: when it returns true, a waiting ``publish`` gives up (returning false).
    /// - Throws: ``SharedMemoryRingError`` when the name is taken or a syscall fails.
    public init(name: String, layout: SharedMemoryRingLayout, epoch: Int, batchCount: Int, sampleCount: Int,
                startCursor: String, isCancelled: (@Sendable () -> Bool)? = nil) throws(SharedMemoryRingError) {
        try Self.checkName(name)
        guard layout.slotCount >= 1, layout.batch >= 1, layout.height >= 1, layout.width >= 1, layout.channels >= 1 else {
            throw SharedMemoryRingError(.invalidArgument, "shared-memory ring needs at least one slot and a non-empty batch")
        }
        let fd = shm_open("/" + name, O_CREAT | O_EXCL | O_RDWR | O_CLOEXEC, 0o600)
        if fd < 0 {
            let code = Glibc.errno
            if code == EEXIST {
                throw SharedMemoryRingError(.system, "\(Self.path(name)) already exists (another stream, or one that was never read to its end): remove it or pick another name")
            }
            throw SharedMemoryRingError(.system, "shm_open \(Self.path(name))", errno: code)
        }
        var failed = true
        defer { if failed { close(fd); shm_unlink("/" + name) } }
        while ftruncate(fd, off_t(layout.totalBytes)) != 0 {
            let code = Glibc.errno
            if code != EINTR { throw SharedMemoryRingError(.system, "ftruncate \(Self.path(name)) to \(layout.totalBytes) bytes", errno: code) }
        }
        // Reserve the pages now: on a full /dev/shm (Docker's default is 64 MiB) this fails with
        // ENOSPC here, instead of a SIGBUS at the first write into a page tmpfs cannot supply.
        let reserved = posix_fallocate(fd, 0, off_t(layout.totalBytes))
        if reserved != 0 && reserved != EOPNOTSUPP && reserved != EINVAL {
            throw SharedMemoryRingError(.system, "reserving \(layout.totalBytes) bytes for \(Self.path(name)) (is /dev/shm big enough? Docker: --shm-size)", errno: reserved)
        }
        guard let mapped = mmap(nil, layout.totalBytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0), mapped != MAP_FAILED else {
            throw SharedMemoryRingError(.system, "mmap \(Self.path(name)) (\(layout.totalBytes) bytes)", errno: Glibc.errno)
        }
        failed = false
        self.name = name
        self.layout = layout
        self.descriptor = fd
        self.base = mapped
        self.isCancelled = isCancelled

        typealias H = SharedMemoryRingLayout.Header
        store(SharedMemoryRingLayout.version, at: H.version)
        store(UInt32(SharedMemoryRingLayout.headerBytes), at: H.headerBytes)
        store(UInt32(layout.slotCount), at: H.slotCount)
        store(UInt32(SharedMemoryRingLayout.slotHeaderBytes), at: H.slotHeaderBytes)
        store(UInt64(layout.slotBytes), at: H.slotBytes)
        store(UInt32(layout.batch), at: H.batch)
        store(UInt32(layout.height), at: H.height)
        store(UInt32(layout.width), at: H.width)
        store(UInt32(layout.channels), at: H.channels)
        store(UInt64(layout.labelsOffset), at: H.labelsOffset)
        store(UInt64(epoch), at: H.epoch)
        store(UInt64(batchCount), at: H.batchCount)
        store(UInt64(sampleCount), at: H.sampleCount)
        store(UInt32(bitPattern: getpid()), at: H.producerPID)
        writeText(startCursor, at: H.startCursor, capacity: SharedMemoryRingLayout.cursorBytes)
        atomicMemoryFence(ordering: .releasing)
        SharedMemoryRingLayout.magic.withUnsafeBytes { (base + H.magic).copyMemory(from: $0.baseAddress!, byteCount: 8) }
    }

    deinit {
        munmap(base, layout.totalBytes)
        close(descriptor)
    }

    /// Removes the name from `/dev/shm` (`shm_unlink`); mappings stay valid until unmapped.
    public func unlink() { shm_unlink("/" + name) }

    /// Publishes the next batch: waits for a free slot, copies the pixels and labels in, then
    /// makes the slot visible. Returns false, publishing nothing, when the consumer closed the
    /// ring or exited while the producer waited: a trainer that needed fewer batches is no failure.
    /// - Parameters:
    ///   - count: samples in this batch (at most `layout.batch`).
    ///   - pixels: `count x height x width x channels` bytes, NHWC.
    ///   - labels: `count` labels, stored as int64.
    ///   - cursor: the resume token after this batch.
    /// - Returns: true once published; false when the consumer is gone (the state becomes abandoned).
    /// - Throws: ``SharedMemoryRingError`` when the batch does not fit the slot.
    /// - Complexity: one copy of the batch; waiting polls with a sleep that grows from 20 µs to 2 ms.
    public mutating func publish(count: Int, pixels: UnsafeRawBufferPointer, labels: UnsafeBufferPointer<Int32>,
                                 positionAfter: Int, cursor: String, lastOfEpoch: Bool) throws(SharedMemoryRingError) -> Bool {
        let geometry = layout.height * layout.width * layout.channels
        guard count <= layout.batch, pixels.count == count * geometry, labels.count == count else {
            throw SharedMemoryRingError(.invalidArgument, "batch of \(count) samples (\(pixels.count) pixel bytes, \(labels.count) labels) does not fit a slot of \(layout.batch) x \(layout.height)x\(layout.width)x\(layout.channels)")
        }
        let k = produced
        guard waitForSlot(k) else { return false }
        typealias S = SharedMemoryRingLayout.Slot
        let slot = layout.slotOffset(batch: k)
        atomic(at: slot + S.sequence).pointee.store(UInt64(2 * k + 1), ordering: .relaxed)
        atomicMemoryFence(ordering: .releasing)
        store(UInt32(count), at: slot + S.count)
        store(UInt32(lastOfEpoch ? 1 : 0), at: slot + S.flags)
        store(UInt64(k), at: slot + S.index)
        store(UInt64(positionAfter), at: slot + S.positionAfter)
        writeText(cursor, at: slot + S.cursor, capacity: SharedMemoryRingLayout.cursorBytes)
        if let source = pixels.baseAddress { (base + slot + S.pixels).copyMemory(from: source, byteCount: pixels.count) }
        let target = (base + slot + layout.labelsOffset).bindMemory(to: Int64.self, capacity: count)
        for i in 0..<count { target[i] = Int64(labels[i]).littleEndian }
        atomic(at: slot + S.sequence).pointee.store(UInt64(2 * k + 2), ordering: .releasing)
        produced = k + 1
        atomic(at: SharedMemoryRingLayout.Header.produced).pointee.store(UInt64(produced), ordering: .releasing)
        return true
    }

    /// Every batch is published: the consumer reads what is left, then sees the end.
    public func finish() { setState(.done) }

    /// The stream failed: the consumer gets `message` once it has read the batches before it.
    public func fail(_ message: String) {
        writeText(message, at: SharedMemoryRingLayout.Header.error, capacity: SharedMemoryRingLayout.maxErrorBytes)
        store(UInt32(min(message.utf8.count, SharedMemoryRingLayout.maxErrorBytes)), at: SharedMemoryRingLayout.Header.errorBytes)
        setState(.failed)
    }

    /// Batches the consumer has released so far.
    public var consumed: Int { Int(atomic(at: SharedMemoryRingLayout.Header.consumed).pointee.load(ordering: .acquiring)) }

    /// The consumer's process id once it attached, else nil.
    public var consumerPID: pid_t? {
        let pid = pid_t(bitPattern: base.load(fromByteOffset: SharedMemoryRingLayout.Header.consumerPID, as: UInt32.self))
        return pid == 0 ? nil : pid
    }

    /// True once the consumer said it stopped, or its process is gone.
    public var consumerGone: Bool {
        if base.load(fromByteOffset: SharedMemoryRingLayout.Header.consumerClosed, as: UInt32.self) != 0 { return true }
        if let pid = consumerPID, kill(pid, 0) != 0, Glibc.errno == ESRCH { return true }
        return false
    }

    /// Waits until slot `k % slotCount` is free; false when the consumer went away (or the
    /// producer was cancelled) instead.
    private func waitForSlot(_ k: Int) -> Bool {
        var pause: UInt32 = 20
        while k - consumed >= layout.slotCount {
            if consumerGone || isCancelled?() == true {
                setState(.abandoned)
                return false
            }
            usleep(pause)
            pause = min(pause * 2, 2000)
        }
        return true
    }

    private func setState(_ state: SharedMemoryRingLayout.State) {
        atomic32(at: SharedMemoryRingLayout.Header.state).pointee.store(state.rawValue, ordering: .releasing)
    }

    private func atomic(at offset: Int) -> UnsafeMutablePointer<Atomic<UInt64>> {
        (base + offset).assumingMemoryBound(to: Atomic<UInt64>.self)
    }

    private func atomic32(at offset: Int) -> UnsafeMutablePointer<Atomic<UInt32>> {
        (base + offset).assumingMemoryBound(to: Atomic<UInt32>.self)
    }

    private func store<T: FixedWidthInteger>(_ value: T, at offset: Int) {
        base.storeBytes(of: value.littleEndian, toByteOffset: offset, as: T.self)
    }

    /// ASCII/UTF-8 text, cut at `capacity` bytes, NUL-padded.
    private func writeText(_ text: String, at offset: Int, capacity: Int) {
        (base + offset).initializeMemory(as: UInt8.self, repeating: 0, count: capacity)
        for (i, byte) in text.utf8.prefix(capacity).enumerated() { base.storeBytes(of: byte, toByteOffset: offset + i, as: UInt8.self) }
    }
}
