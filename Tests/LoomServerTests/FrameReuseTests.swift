@testable import LoomServer
import LoomLoader
import LoomStore
import NIOCore
import Testing

/// `GET /v1/batches` fills written frames' buffers again instead of allocating one per batch
/// (Sources/LoomServer/Streaming/FrameQueue.swift): the buffer must be reused in place, the frame
/// it makes must be a fresh one's byte for byte (a smaller batch after a bigger one leaves nothing
/// behind), and a buffer something still holds must be copied, never overwritten.
@Suite struct FrameReuseTests {
    @Test("a written frame's buffer is filled again in place, byte for byte a fresh frame; one still held is left as it was")
    func writtenFramesAreRefilled() throws {
        let fixture = try ServerFixture()
        let store = try Store(StoreLayout(root: fixture.store), access: .readOnly)
        let spec = TransformSpec(size: 16, augment: .train)
        let table = try SampleTable.load(store, selection: try Selection(parsing: "pets:train"))
        #expect(table.count == 12)
        let loader = try Loader(store: store, table: table, spec: spec, config: SamplerConfig(seed: 5), epoch: 0,
                                options: .init(batchSize: 5, workers: 1))
        let queue = FrameQueue(capacity: 2, metrics: .shared)

        // Batch 0 (5 samples) goes out; the writer hands its buffer back and lets go of it.
        var written = ByteBuffer()
        BatchFrame.batch(try #require(try loader.next()), size: 16, epoch: 0, cursor: loader.resumeToken, last: false, into: &written)
        let address = written.withUnsafeReadableBytes { UInt(bitPattern: $0.baseAddress) }
        queue.recycle(written)
        written = ByteBuffer()

        // Batch 1 (5 samples) into a new buffer, still held by the channel when recycled.
        var held = ByteBuffer()
        BatchFrame.batch(try #require(try loader.next()), size: 16, epoch: 0, cursor: loader.resumeToken, last: false, into: &held)
        let heldBytes = Array(held.readableBytesView)
        queue.recycle(held)

        // Batch 2, the last (2 samples), into the oldest spare: batch 0's memory.
        let last = try #require(try loader.next())
        var refilled = try #require(queue.spare())
        BatchFrame.batch(last, size: 16, epoch: 0, cursor: loader.resumeToken, last: true, into: &refilled)
        var fresh = ByteBuffer()
        BatchFrame.batch(last, size: 16, epoch: 0, cursor: loader.resumeToken, last: true, into: &fresh)
        #expect(refilled.withUnsafeReadableBytes { UInt(bitPattern: $0.baseAddress) } == address, "the spare was not reused in place")
        #expect(refilled == fresh)
        #expect(refilled.readableBytes == BatchFrame.headerBytes + 2 * 16 * 16 * 3 + 2 * 8)

        // The spare the channel still holds is copied on write.
        var second = try #require(queue.spare())
        BatchFrame.batch(last, size: 16, epoch: 0, cursor: loader.resumeToken, last: true, into: &second)
        #expect(second == fresh)
        #expect(Array(held.readableBytesView) == heldBytes, "a frame still held was overwritten")

        // A closed queue keeps no spares.
        queue.recycle(fresh)
        queue.close()
        queue.recycle(second)
        #expect(queue.spare() == nil)
    }
}
