import Foundation
import Glibc
import LoomLoader
import LoomTestSupport
import Testing

/// Moves the ring (a noncopyable owner) onto the producer thread. `@unchecked`: only that thread touches it.
final class RingBox: @unchecked Sendable {
    var ring: SharedMemoryRing?
    init(_ ring: consuming SharedMemoryRing) { self.ring = consume ring }
}

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
