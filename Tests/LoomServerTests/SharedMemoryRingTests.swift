import Foundation
import Glibc
import LoomServer
import LoomStore
import LoomTestSupport
import Synchronization
import Testing

/// A consumer of a shared-memory ring written from the layout in docs/batch-stream.md, not from
/// the producer's code: what the Python reader does, in Swift.
final class RingReader {
    let path: String
    private let descriptor: Int32
    private let base: UnsafeMutableRawPointer
    private let size: Int
    private var next = 0
    private var held: Int?

    struct Batch {
        var pixels: [UInt8]
        var labels: [Int64]
        var cursor: String
        var lastOfEpoch: Bool
    }

    enum End: Error, Equatable { case failed(String), producerStopped(UInt32) }

    init(name: String, timeout: Double = 30) throws {
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
            guard Date() < deadline else { throw TestFailure("no ring at \(path)") }
            usleep(5_000)
        }
        base.storeBytes(of: UInt32(bitPattern: getpid()), toByteOffset: 84, as: UInt32.self)
    }

    deinit {
        munmap(base, size)
        close(descriptor)
    }

    func u32(_ offset: Int) -> UInt32 { (base + offset).assumingMemoryBound(to: Atomic<UInt32>.self).pointee.load(ordering: .acquiring) }
    func u64(_ offset: Int) -> UInt64 { (base + offset).assumingMemoryBound(to: Atomic<UInt64>.self).pointee.load(ordering: .acquiring) }
    func text(_ offset: Int, _ count: Int) -> String {
        String(decoding: UnsafeRawBufferPointer(start: base + offset, count: count).prefix { $0 != 0 }, as: UTF8.self)
    }

    var slotCount: Int { Int(u32(16)) }
    var produced: Int { Int(u64(192)) }
    var consumed: Int { Int(u64(256)) }
    var state: UInt32 { u32(320) }
    var startCursor: String { text(96, 64) }

    func slot(_ k: Int) -> Int { 4096 + (k % slotCount) * Int(u64(24)) }

    func release() throws {
        guard let k = held else { return }
        held = nil
        let sequence = u64(slot(k))
        guard sequence == UInt64(2 * k + 2) else { throw TestFailure("slot of batch \(k) rewritten while held: sequence \(sequence)") }
        (base + 256).assumingMemoryBound(to: Atomic<UInt64>.self).pointee.store(UInt64(k + 1), ordering: .releasing)
    }

    /// The next batch (copied out, for the test), nil at the end.
    func read() throws -> Batch? {
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
            guard Date() < deadline else { throw TestFailure("no batch \(k) within 60 s") }
            usleep(100)
        }
        let at = slot(k)
        guard u64(at) == UInt64(2 * k + 2) else { throw TestFailure("batch \(k): sequence \(u64(at))") }
        let n = Int(u32(at + 8)), geometry = Int(u32(36)) * Int(u32(40)) * Int(u32(44))
        let pixels = Array(UnsafeRawBufferPointer(start: base + at + 128, count: n * geometry))
        let labelsAt = at + Int(u64(48))
        let labels = (0..<n).map { Int64(littleEndian: (base + labelsAt + 8 * $0).loadUnaligned(as: Int64.self)) }
        held = k
        next = k + 1
        return Batch(pixels: pixels, labels: labels, cursor: text(at + 64, 64), lastOfEpoch: u32(at + 12) & 1 != 0)
    }

    /// What a consumer that stops early does.
    func closeEarly() { base.storeBytes(of: UInt32(1), toByteOffset: 324, as: UInt32.self) }
}

/// Moves the ring (a noncopyable owner) onto the producer thread. `@unchecked`: only that thread touches it.
final class RingBox: @unchecked Sendable {
    var ring: SharedMemoryRing?
    init(_ ring: consuming SharedMemoryRing) { self.ring = consume ring }
}

func ringName() -> String { "loom-swift-test-\(getpid())-\(UUID().uuidString.prefix(8))" }

@Suite("shared-memory batch ring")
struct SharedMemoryRingTests {
    /// Batch `k`'s pixels: every byte a function of (k, i), so a slot overwritten early is caught.
    static func pixels(_ k: Int, count: Int) -> [UInt8] { (0..<count).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ k &* 7 &+ 1) } }

    @Test("a slow reader sees every batch whole and in order; the producer never runs more than the ring's slots ahead",
          arguments: [1, 3])
    func backpressure(slots: Int) throws {
        let name = ringName()
        let layout = SharedMemoryRingLayout(slotCount: slots, batch: 4, height: 5, width: 6)
        let ring = try SharedMemoryRing(name: name, layout: layout, epoch: 2, batchCount: 12, sampleCount: 46, startCursor: "loom1.0.2.0.0.1")
        defer { shm_unlink("/" + name) }
        let box = RingBox(ring)
        let geometry = 5 * 6 * 3
        let producer = Thread {
            for k in 0..<12 {
                let count = k == 11 ? 2 : 4
                let pixels = Self.pixels(k, count: count * geometry)
                let labels = (0..<count).map { Int32(k * 10 + $0) }
                try! pixels.withUnsafeBytes { p in
                    try labels.withUnsafeBufferPointer { l in
                        _ = try box.ring!.publish(count: count, pixels: p, labels: l, positionAfter: k * 4 + count,
                                              cursor: "loom1.0.2.\(k * 4 + count).0.1", lastOfEpoch: k == 11)
                    }
                }
            }
            box.ring!.finish()
        }
        producer.start()
        let reader = try RingReader(name: name)
        #expect(reader.startCursor == "loom1.0.2.0.0.1")
        var k = 0
        while let batch = try reader.read() {
            usleep(2_000)
            #expect(reader.produced - reader.consumed <= slots, "the producer ran past the slots the reader holds")
            let count = k == 11 ? 2 : 4
            #expect(batch.pixels == Self.pixels(k, count: count * geometry), "batch \(k) pixels")
            #expect(batch.labels == (0..<count).map { Int64(k * 10 + $0) })
            #expect(batch.cursor == "loom1.0.2.\(k * 4 + count).0.1" && batch.lastOfEpoch == (k == 11))
            k += 1
        }
        #expect(k == 12 && reader.state == 1)
    }

    @Test("a consumer that closes early stops the producer (state abandoned); a taken name and a path are refused")
    func abandonedAndNames() throws {
        let name = ringName()
        var ring = try SharedMemoryRing(name: name, layout: .init(slotCount: 1, batch: 1, height: 1, width: 1), epoch: 0,
                                        batchCount: 5, sampleCount: 5, startCursor: "")
        defer { ring.unlink() }
        let reader = try RingReader(name: name)
        let pixel: [UInt8] = [1, 2, 3], label: [Int32] = [7]
        func publish() throws -> Bool {
            try pixel.withUnsafeBytes { p in
                try label.withUnsafeBufferPointer { l in
                    try ring.publish(count: 1, pixels: p, labels: l, positionAfter: 1, cursor: "c", lastOfEpoch: false)
                }
            }
        }
        #expect(try publish())
        #expect(try reader.read()?.labels == [7])
        reader.closeEarly()
        #expect(try publish() == false, "the slot is held and the consumer gone: nothing to wait for")
        #expect(reader.state == 3)

        #expect { _ = try SharedMemoryRing(name: name, layout: .init(slotCount: 1, batch: 1, height: 1, width: 1), epoch: 0,
                                           batchCount: 1, sampleCount: 1, startCursor: "") } throws: {
            ($0 as? SharedMemoryRingError)?.description.contains("already exists") == true
        }
        for bad in ["", ".", "..", "a/b", "../x"] {
            #expect(throws: SharedMemoryRingError.self) { try SharedMemoryRing.checkName(bad) }
        }
    }
}

extension ServerTests {
    @Test("loom stream --shm puts exactly the batches of loom stream --json into the ring")
    func streamIntoSharedMemory() throws {
        let fixture = try ServerFixture()
        let arguments = ["stream", "--selection", "pets:train*2+pets:val", "--batch", "5", "--size", "24", "--augment", "train",
                         "--seed", "4", "--epoch", "1", "--json", "--store", fixture.store]
        let expected = try Loom.ok(arguments, in: fixture.scratch.path).jsonLines()
        let lines = expected.dropLast().compactMap { $0 as? [String: Any] }
        let name = ringName()
        defer { shm_unlink("/" + name) }
        let producer = try Child(arguments + ["--shm", name, "--shm-slots", "2"], directory: fixture.scratch.path)
        let reader = try RingReader(name: name)
        var batches: [RingReader.Batch] = []
        while let batch = try reader.read() { batches.append(batch) }
        let run = producer.wait()
        #expect(run.status == 0, "\(run)")
        #expect(batches.count == lines.count && lines.count >= 3, "\(lines.count) batches")
        for (batch, line) in zip(batches, lines) {
            #expect(String(Digest.sha256(batch.pixels).hex.prefix(16)) == line["checksum"] as? String)
            #expect(batch.labels == (line["labels"] as? [Int])?.map(Int64.init))
        }
        #expect(batches.last?.cursor == (expected.last as? [String: Any])?["resume"] as? String)
    }
}
