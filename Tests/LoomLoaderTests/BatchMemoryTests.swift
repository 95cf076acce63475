import Foundation
@testable import LoomLoader
import LoomStore
import LoomTestSupport
import Testing

/// Batch pixel memory kept from one loader to the next (Sources/LoomLoader/BatchMemory.swift).
@Suite("Batch memory")
struct BatchMemoryTests {
    @Test("a released buffer is the one the next request of its size gets, and it is writable")
    func reuse() throws {
        let pool = BatchMemory(keptBytes: 64 << 20)
        let first = try pool.take(bytes: 3 * 224 * 224 * 3)
        #expect(first.count % Int(getpagesize()) == 0 && first.count >= 3 * 224 * 224 * 3)
        #expect(UInt(bitPattern: first.baseAddress) % UInt(getpagesize()) == 0)
        first.initializeMemory(as: UInt8.self, repeating: 0xAB)
        pool.give(first)
        #expect(pool.idleBytes == first.count)

        let again = try pool.take(bytes: 3 * 224 * 224 * 3)
        #expect(again.baseAddress == first.baseAddress && again.count == first.count)
        #expect(pool.idleBytes == 0)
        // MADV_FREE lets the kernel drop the old contents; whatever it kept, the memory takes writes.
        again.initializeMemory(as: UInt8.self, repeating: 7)
        #expect(again.allSatisfy { $0 == 7 })

        let other = try pool.take(bytes: 5 << 20)
        #expect(other.baseAddress != again.baseAddress)
        pool.give(again)
        pool.give(other)
    }

    @Test("no more than keptBytes wait; the rest are unmapped")
    func keptBytesBound() throws {
        let pool = BatchMemory(keptBytes: 10 << 20)
        let buffers = try (0..<4).map { _ in try pool.take(bytes: 4 << 20) }
        for buffer in buffers { pool.give(buffer) }
        #expect(pool.idleBytes == 8 << 20)
        // The two kept come back last in, first out; a third request maps anew.
        let reused = try (0..<3).map { _ in try pool.take(bytes: 4 << 20) }
        #expect(reused[0].baseAddress == buffers[1].baseAddress && reused[1].baseAddress == buffers[0].baseAddress)
        #expect(pool.idleBytes == 0)
        for buffer in reused { pool.give(buffer) }
    }

    @Test("a request past what can be mapped throws a LoaderError instead of crashing", .tags(.hardening))
    func impossibleRequests() throws {
        let pool = BatchMemory(keptBytes: 1 << 20)
        #expect { _ = try pool.take(bytes: Int.max) } throws: { error in
            (error as? LoaderError)?.code == .invalidArgument && "\(error)".contains("too large")
        }
        // 1 PiB: past the 47-bit user address space, so the kernel refuses it under any overcommit policy.
        #expect { _ = try pool.take(bytes: 1 << 50) } throws: { error in
            (error as? LoaderError)?.code == .io && "\(error)".contains("cannot map")
        }
    }

    @Test("a loader whose batch size overflows the batch buffer's byte count fails with a clear error", .tags(.hardening))
    func overflowingBatch() throws {
        let fixture = try LoaderFixture()
        let table = try fixture.table()
        #expect { _ = try fixture.loader(table: table, spec: TransformSpec(size: 4096, augment: .train), config: SamplerConfig(seed: 1),
                                         batch: Int.max / 1024, workers: 1) } throws: { error in
            (error as? LoaderError)?.code == .invalidArgument && "\(error)".contains("too large")
        }
        #expect { _ = try fixture.loader(table: table, spec: TransformSpec(size: 4096, augment: .train), config: SamplerConfig(seed: 1),
                                         batch: 1 << 24, workers: 1) } throws: { error in
            (error as? LoaderError)?.code == .io && "\(error)".contains("cannot map")
        }
    }
}

extension BatchMemoryTests {
    @Test("a loader dropped mid-epoch leaves its ring in the shared pool, and the next request of that size gets it")
    func loaderHandsBackItsRing() throws {
        let fixture = try LoaderFixture()
        let table = try fixture.table()
        // An odd size and batch, so no other test's loader asks the shared pool for this length.
        let spec = TransformSpec(size: 43, augment: .train), batch = 7
        var ring: Set<UInt> = []
        do {
            let loader = try fixture.loader(table: table, spec: spec, config: SamplerConfig(seed: 3), batch: batch, workers: 2, prefetch: 2)
            // Two batches of several, then dropped mid-epoch with its workers still waiting on the ring.
            for _ in 0..<2 { ring.insert(UInt(bitPattern: try #require(try loader.next()).pixels.baseAddress)) }
            #expect(loader.batchCount > 3)
        }
        #expect(ring.count == 2)
        #expect(BatchMemory.shared.idleBuffers(forBytes: batch * spec.sampleBytes) == 2)
        let next = try BatchMemory.shared.take(bytes: batch * spec.sampleBytes)
        defer { BatchMemory.shared.give(next) }
        #expect(ring.contains(UInt(bitPattern: next.baseAddress)))
    }
}
