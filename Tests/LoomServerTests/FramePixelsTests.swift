import Foundation
@testable import LoomLoader
@testable import LoomServer
import LoomStore
import HTTPTypes
import NIOCore
import Testing

/// `GET /v1/batches` hands each batch's pixels to the socket without copying them
/// (Sources/LoomServer/Streaming/FramePixels.swift): the loader gives up the memory it rendered
/// into and renders on into a replacement, the frame's buffer is that memory, and it goes back
/// to the pool when the buffer goes.
@Suite struct FramePixelsTests {
    private func loader(_ store: Store, prefetch: Int? = nil) throws -> Loader {
        let table = try SampleTable.load(store, selection: try Selection(parsing: "pets:train"))
        #expect(table.count == 12)
        return try Loader(store: store, table: table, spec: TransformSpec(size: 16, augment: .train), config: SamplerConfig(seed: 5),
                          epoch: 0, options: .init(batchSize: 2, workers: 2, prefetch: prefetch))
    }

    @Test("taken pixels keep their batch while the ring renders on, and the loader's batches are those of one that takes nothing")
    func takenPixelsSurviveTheRing() throws {
        let fixture = try ServerFixture()
        let store = try Store(StoreLayout(root: fixture.store), access: .readOnly)
        var expected: [[UInt8]] = []
        let plain = try loader(store)
        while let view = try plain.next() { expected.append(Array(view.pixels)) }
        #expect(expected.count == 6)

        // A ring of 2: without a replacement, batch 0's memory would hold batch 2 by the time
        // batch 3 is out.
        let taking = try loader(store, prefetch: 2)
        #expect(throws: LoaderError.self) { try taking.takePixels() }  // no batch held yet
        var taken: [(Loader.TakenPixels, Int)] = []
        var batches = 0
        while let view = try taking.next() {
            let same = Array(view.pixels) == expected[batches]
            #expect(same, "batch \(batches) differs from a loader's that takes nothing")
            let pixels = try taking.takePixels()
            #expect(pixels.memory.baseAddress.map(UnsafeRawPointer.init) == view.pixels.baseAddress, "not the view's memory")
            #expect(throws: LoaderError.self) { try taking.takePixels() }  // once per batch
            taken.append((pixels, view.pixels.count))
            batches += 1
        }
        #expect(batches == 6)
        for (index, (pixels, count)) in taken.enumerated() {
            let kept = Array(UnsafeRawBufferPointer(rebasing: pixels.memory[0..<count])) == expected[index]
            #expect(kept, "batch \(index)'s taken memory was overwritten")
            pixels.release()
        }
    }

    @Test("a frame's pixel buffer is the taken memory itself, owned until the buffer goes; growing it moves the bytes out first")
    func pixelBufferOwnsTheTakenMemory() throws {
        let fixture = try ServerFixture()
        let store = try Store(StoreLayout(root: fixture.store), access: .readOnly)
        let source = try loader(store)
        let view = try #require(try source.next())
        let bytes = Array(view.pixels)
        let taken = try source.takePixels()
        let address = UInt(bitPattern: taken.memory.baseAddress)
        do {
            let buffer = FramePixels.buffer(taking: taken, count: bytes.count)
            #expect(buffer.readableBytes == bytes.count)
            #expect(buffer.withUnsafeReadableBytes { UInt(bitPattern: $0.baseAddress) } == address, "the pixels were copied")
            #expect(Array(buffer.readableBytesView) == bytes)
            #expect(FramePixels.owns(address))
            var copy = buffer  // written to while shared: copy on write, the original keeps its memory
            copy.writeInteger(UInt8(7))
            #expect(FramePixels.owns(address))
            #expect(Array(copy.readableBytesView) == bytes + [7])
            #expect(Array(buffer.readableBytesView) == bytes)
        }
        #expect(!FramePixels.owns(address), "the memory was not handed back when its buffer went")

        let second = try #require(try source.next())
        let secondBytes = Array(second.pixels)
        let secondTaken = try source.takePixels()
        let secondAddress = UInt(bitPattern: secondTaken.memory.baseAddress)
        var grown = FramePixels.buffer(taking: secondTaken, count: secondBytes.count)
        // Past the mapping's capacity: NIO reallocates, and the pool's mapping is not malloc's.
        grown.writeRepeatingByte(9, count: secondTaken.memory.count)
        #expect(!FramePixels.owns(secondAddress))
        #expect(Array(grown.readableBytesView.prefix(secondBytes.count)) == secondBytes)
        #expect(grown.readableBytes == secondBytes.count + secondTaken.memory.count)
    }

    @Test("a batch whose pixels would not fit one frame buffer (4 GiB) is a 400 naming batch, even within --stream-memory")
    func framesOverFourGiBAreRefused() throws {
        let configuration = ServerConfiguration(store: StoreLayout(root: "/nonexistent"), loaderWorkers: 2,
                                                streamMemory: StreamBudget(bytes: 1 << 50))
        let asked = BatchStreamRoutes.Request(
            selection: try Selection(parsing: "pets:train"), batch: 256, spec: TransformSpec(size: 4096, augment: .train),
            config: SamplerConfig(seed: 0), epoch: 0, start: 0, dropLast: false)
        let error = try #require(throws: APIError.self) { try BatchStreamRoutes.loaderOptions(asked, configuration: configuration) }
        #expect(error.status.code == 400 && error.message.contains("batch") && error.message.contains("4 GiB"), "\(error)")
        var small = asked
        small.spec = TransformSpec(size: 224, augment: .train)
        #expect(try BatchStreamRoutes.loaderOptions(small, configuration: configuration).batchSize == 256)
    }
}
