import Foundation
import Glibc
import Synchronization

/// Why ``RingReader`` gave up: no ring, a stalled producer or a torn slot.
public struct RingReaderFailure: Error, CustomStringConvertible {
    public var description: String
    init(_ description: String) { self.description = description }
}

/// A consumer of a shared-memory ring written from the layout in docs/batch-stream.md, not from
/// the producer's code: what the Python reader does, in Swift.
public final class RingReader {
    public let path: String
    private let descriptor: Int32
    private let base: UnsafeMutableRawPointer
    private let size: Int
    private var next = 0
    private var held: Int?

    public struct Batch {
        public var pixels: [UInt8]
        public var labels: [Int64]
        public var cursor: String
        public var lastOfEpoch: Bool
    }

    public enum End: Error, Equatable { case failed(String), producerStopped(UInt32) }

    public init(name: String, timeout: Double = 30) throws {
        path = "/dev/shm/" + name
        let deadline = Date().addingTimeInterval(timeout)
        while true {
            let fd = open(path, O_RDWR)
            if fd >= 0 {
                var info = stat()
                fstat(fd, &info)
                if info.st_size >= 4096, let mapped = mmap(nil, Int(info.st_size), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0),
                   mapped != MAP_FAILED {
                    if Array(UnsafeRawBufferPointer(start: mapped, count: 8)) == Array("LOOMRNG1".utf8) {
                        (descriptor, base, size) = (fd, mapped, Int(info.st_size))
                        break
                    }
                    munmap(mapped, Int(info.st_size))
                }
                close(fd)
            }
            guard Date() < deadline else { throw RingReaderFailure("no ring at \(path)") }
            usleep(5_000)
        }
        base.storeBytes(of: UInt32(bitPattern: getpid()), toByteOffset: 84, as: UInt32.self)
    }

    deinit {
        munmap(base, size)
        close(descriptor)
    }

    public func u32(_ offset: Int) -> UInt32 { (base + offset).assumingMemoryBound(to: Atomic<UInt32>.self).pointee.load(ordering: .acquiring) }
    public func u64(_ offset: Int) -> UInt64 { (base + offset).assumingMemoryBound(to: Atomic<UInt64>.self).pointee.load(ordering: .acquiring) }
    public func text(_ offset: Int, _ count: Int) -> String {
        String(decoding: UnsafeRawBufferPointer(start: base + offset, count: count).prefix { $0 != 0 }, as: UTF8.self)
    }

    public var slotCount: Int { Int(u32(16)) }
    public var produced: Int { Int(u64(192)) }
    public var consumed: Int { Int(u64(256)) }
    public var state: UInt32 { u32(320) }
    public var startCursor: String { text(96, 64) }

    public func slot(_ k: Int) -> Int { 4096 + (k % slotCount) * Int(u64(24)) }

    public func release() throws {
        guard let k = held else { return }
        held = nil
        let sequence = u64(slot(k))
        guard sequence == UInt64(2 * k + 2) else { throw RingReaderFailure("slot of batch \(k) rewritten while held: sequence \(sequence)") }
        (base + 256).assumingMemoryBound(to: Atomic<UInt64>.self).pointee.store(UInt64(k + 1), ordering: .releasing)
    }

    /// The next batch (copied out, for the test), nil at the end.
    public func read() throws -> Batch? {
        try release()
        let k = next
        let deadline = Date().addingTimeInterval(60)
        while produced <= k {
            let state = self.state
            if state != 0 && produced <= k {
                if state == 1 { return nil }
                if state == 2 { throw End.failed(text(512, Int(u32(328)))) }
                throw End.producerStopped(state)
            }
            guard Date() < deadline else { throw RingReaderFailure("no batch \(k) within 60 s") }
            usleep(100)
        }
        let at = slot(k)
        guard u64(at) == UInt64(2 * k + 2) else { throw RingReaderFailure("batch \(k): sequence \(u64(at))") }
        let n = Int(u32(at + 8)), geometry = Int(u32(36)) * Int(u32(40)) * Int(u32(44))
        let pixels = Array(UnsafeRawBufferPointer(start: base + at + 128, count: n * geometry))
        let labelsAt = at + Int(u64(48))
        let labels = (0..<n).map { Int64(littleEndian: (base + labelsAt + 8 * $0).loadUnaligned(as: Int64.self)) }
        held = k
        next = k + 1
        return Batch(pixels: pixels, labels: labels, cursor: text(at + 64, 64), lastOfEpoch: u32(at + 12) & 1 != 0)
    }

    /// What a consumer that stops early does.
    public func closeEarly() { base.storeBytes(of: UInt32(1), toByteOffset: 324, as: UInt32.self) }
}

/// A ring name no other test process uses.
public func ringName() -> String { "loom-swift-test-\(getpid())-\(UUID().uuidString.prefix(8))" }
