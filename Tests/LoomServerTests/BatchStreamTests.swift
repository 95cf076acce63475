import Foundation
import LoomLoader
import LoomStore
import Testing

/// One frame of `GET /v1/batches`, decoded independently of the server's encoder.
struct Frame {
    var n: Int
    var height: Int
    var width: Int
    var channels: Int
    var flags: UInt32
    var epoch: Int
    var positionAfter: Int
    var cursor: String
    var pixels: [UInt8]
    var labels: [Int64]

    var isEnd: Bool { flags & 2 != 0 }
    var isError: Bool { flags & 4 != 0 }
    var message: String { String(decoding: pixels, as: UTF8.self) }

    /// The next frame of a chunked response, nil when the body ends (cut or finished).
    static func read(_ connection: RawHTTP) throws -> Frame? {
        let header = try connection.readChunked(upTo: 128)
        if header.isEmpty { return nil }
        guard header.count == 128 else { throw TestFailure("frame header cut at \(header.count) bytes") }
        guard Array(header[0..<8]) == Array("LOOMBAT1".utf8) else { throw TestFailure("bad magic \(header[0..<8])") }
        func u32(_ at: Int) -> Int { Int(header[at..<(at + 4)].reversed().reduce(UInt32(0)) { $0 << 8 | UInt32($1) }) }
        func u64(_ at: Int) -> Int { Int(header[at..<(at + 8)].reversed().reduce(UInt64(0)) { $0 << 8 | UInt64($1) }) }
        guard u32(8) == 128 else { throw TestFailure("header_bytes \(u32(8))") }
        let pixelBytes = u64(48), labelBytes = u64(56)
        let pixels = try connection.readChunked(upTo: pixelBytes)
        let labelData = try connection.readChunked(upTo: labelBytes)
        guard pixels.count == pixelBytes, labelData.count == labelBytes else { throw TestFailure("frame payload cut") }
        let labels = stride(from: 0, to: labelBytes, by: 8).map { at in
            Int64(bitPattern: labelData[at..<(at + 8)].reversed().reduce(UInt64(0)) { $0 << 8 | UInt64($1) })
        }
        let cursor = String(decoding: header[64..<128].prefix { $0 != 0 }, as: UTF8.self)
        return Frame(n: u32(12), height: u32(16), width: u32(20), channels: u32(24), flags: UInt32(u32(28)), epoch: u64(32),
                     positionAfter: u64(40), cursor: cursor, pixels: pixels, labels: labels)
    }
}

/// What the in-process loader yields for the same parameters.
struct ExpectedBatch: Equatable {
    var pixels: [UInt8]
    var labels: [Int64]
    var positionAfter: Int
}

func loaderBatches(store path: String, selection: String, batch: Int, size: Int, augment: Augment, seed: UInt64, epoch: Int,
                   rank: Int = 0, world: Int = 1, start: Int = 0) throws -> [ExpectedBatch] {
    let store = try Store(StoreLayout(root: path), access: .readOnly)
    let spec = TransformSpec(size: size, augment: augment)
    let table = try SampleTable.load(store, selection: try Selection(parsing: selection), cacheShortSide: spec.evalResize)
    let loader = try Loader(store: store, table: table, spec: spec, config: SamplerConfig(seed: seed, rank: rank, world: world),
                            epoch: epoch, options: .init(batchSize: batch, workers: 1), startPosition: start)
    var batches: [ExpectedBatch] = []
    while let view = try loader.next() {
        batches.append(ExpectedBatch(pixels: Array(view.pixels), labels: view.labels.map(Int64.init), positionAfter: view.endPosition))
    }
    return batches
}

extension ServerTests {
    /// Opens a stream and returns the connection after checking the response head.
    func openStream(_ fixture: ServerFixture, _ query: String) throws -> (RawHTTP, RawHTTP.Reply) {
        let connection = try RawHTTP(port: fixture.port)
        try connection.sendRequest("GET", "/v1/batches?" + query)
        let (status, headers) = try connection.readHead()
        return (connection, RawHTTP.Reply(status: status, headers: headers, body: []))
    }

    @Test("GET /v1/batches streams exactly the in-process loader's batches (bytes and labels), then an end frame",
          arguments: [
            ("pets:train", 5, 32, Augment.train, UInt64(7), 2, 1, 2),
            ("pets:train*2+pets:val", 4, 24, Augment.eval, UInt64(3), 0, 0, 1),
          ])
    func streamMatchesLoader(selection: String, batch: Int, size: Int, augment: Augment, seed: UInt64, epoch: Int, rank: Int, world: Int) throws {
        let fixture = try ServerFixture()
        try fixture.start()
        defer { _ = try? fixture.stop() }
        let expected = try loaderBatches(store: fixture.store, selection: selection, batch: batch, size: size, augment: augment,
                                         seed: seed, epoch: epoch, rank: rank, world: world)
        let encoded = selection.replacingOccurrences(of: "+", with: "%2B").replacingOccurrences(of: "*", with: "%2A")
        let (connection, head) = try openStream(fixture, "selection=\(encoded)&batch=\(batch)&size=\(size)&augment=\(augment.rawValue)"
            + "&seed=\(seed)&epoch=\(epoch)&rank=\(rank)&world=\(world)")
        #expect(head.status == 200, "\(head)")
        #expect(head.header("content-type") == "application/x-loom-batches")
        #expect(head.header("x-loom-batch-count") == String(expected.count))
        #expect(head.header("x-loom-classes") == "3")
        var frames: [Frame] = []
        while let frame = try Frame.read(connection) {
            frames.append(frame)
            if frame.isEnd { break }
        }
        let end = try #require(frames.last)
        #expect(end.isEnd && !end.isError && end.n == 0, "the stream must finish with an end frame")
        let batches = frames.dropLast()
        #expect(batches.count == expected.count)
        for (index, (frame, want)) in zip(batches, expected).enumerated() {
            #expect(frame.pixels == want.pixels, "batch \(index): pixels differ from the in-process loader")
            #expect(frame.labels == want.labels, "batch \(index): labels")
            #expect(frame.n == want.labels.count && frame.height == size && frame.width == size && frame.channels == 3)
            #expect(frame.epoch == epoch && frame.positionAfter == want.positionAfter)
            #expect(frame.cursor.hasPrefix("loom2.\(seed).\(epoch).\(want.positionAfter).\(rank).\(world)."), "\(frame.cursor)")
            #expect((frame.flags & 1 != 0) == (index == expected.count - 1), "bit 0 marks the epoch's last batch")
        }
        #expect(end.cursor == batches.last?.cursor)
    }

    @Test("a stream cut after two batches and resumed with the last cursor yields exactly the remaining batches")
    func cutAndResume() throws {
        let fixture = try ServerFixture()
        try fixture.start()
        defer { _ = try? fixture.stop() }
        let expected = try loaderBatches(store: fixture.store, selection: "pets:train", batch: 2, size: 16, augment: .train, seed: 11, epoch: 1)
        #expect(expected.count == 6)

        var cursor = ""
        do {
            let (connection, head) = try openStream(fixture, "selection=pets:train&batch=2&size=16&seed=11&epoch=1")
            #expect(head.status == 200)
            for index in 0..<2 {
                let frame = try #require(try Frame.read(connection))
                #expect(frame.pixels == expected[index].pixels && frame.labels == expected[index].labels)
                cursor = frame.cursor
            }
        }  // the connection closes here, mid-epoch
        #expect(cursor.hasPrefix("loom2.11.1.4.0.1."), "\(cursor)")

        let (connection, head) = try openStream(fixture, "selection=pets:train&batch=2&size=16&cursor=\(cursor)")
        #expect(head.status == 200 && head.header("x-loom-batch-count") == "4", "\(head)")
        var rest: [Frame] = []
        while let frame = try Frame.read(connection), !frame.isEnd { rest.append(frame) }
        #expect(rest.map(\.pixels) == expected[2...].map(\.pixels))
        #expect(rest.map(\.labels) == expected[2...].map(\.labels))

        // The server is still well after the cut, and counted what it sent. A stream leaves the
        // gauge once its handler returns, which can be just after the client has read the end
        // frame (or, for the cut stream, once a write fails): wait for it, a few seconds at most.
        var metrics = try fixture.get("/metrics").text
        let deadline = ContinuousClock.now + .seconds(10)
        while !metrics.contains("loom_batch_streams 0"), ContinuousClock.now < deadline {
            Thread.sleep(forTimeInterval: 0.05)
            metrics = try fixture.get("/metrics").text
        }
        #expect(metrics.contains("loom_batches_total"), "\(metrics.prefix(2000))")
        #expect(metrics.contains("loom_batch_streams 0"), "no stream left behind")
        // A cursor outside the epoch is refused before anything is streamed.
        let beyond = try fixture.get("/v1/batches?selection=pets:train&batch=2&size=16&cursor=loom1.11.1.99.0.1")
        #expect(beyond.status == 400 && beyond.error.contains("outside"), "\(beyond)")
    }

    @Test("epochs=3 streams epochs 1 to 3 as three single-epoch streams would, byte for byte; a cursor in the second resumes with epochs counted from its own")
    func epochsOverOneStream() throws {
        let fixture = try ServerFixture()
        try fixture.start()
        defer { _ = try? fixture.stop() }
        let expected = try (1...3).map { epoch in
            try loaderBatches(store: fixture.store, selection: "pets:train", batch: 5, size: 16, augment: .train, seed: 4, epoch: epoch)
        }
        #expect(expected.map(\.count) == [3, 3, 3])
        func frames(_ query: String) throws -> (RawHTTP.Reply, [Frame], Frame?) {
            let (connection, head) = try openStream(fixture, query)
            var got: [Frame] = []
            while let frame = try Frame.read(connection) {
                if frame.isEnd { return (head, got, frame) }
                got.append(frame)
            }
            return (head, got, nil)
        }

        let (head, batches, end) = try frames("selection=pets:train&batch=5&size=16&seed=4&epoch=1&epochs=3")
        #expect(head.status == 200, "\(head)")
        #expect(head.header("x-loom-epochs") == "3" && head.header("x-loom-batch-count") == "9" && head.header("x-loom-sample-count") == "36",
                "\(head.headers)")
        let want = expected.flatMap { $0 }
        #expect(batches.count == 9)
        #expect(batches.map(\.pixels) == want.map(\.pixels), "the epochs' pixels differ from single-epoch loaders'")
        #expect(batches.map(\.labels) == want.map(\.labels))
        #expect(batches.map(\.epoch) == [1, 1, 1, 2, 2, 2, 3, 3, 3])
        #expect(batches.map(\.positionAfter) == [5, 10, 12, 5, 10, 12, 5, 10, 12])
        #expect(batches.indices.filter { batches[$0].flags & 1 != 0 } == [2, 5, 8], "bit 0 marks each epoch's last batch")
        let finished = try #require(end, "the stream must finish with an end frame")
        #expect(!finished.isError && finished.epoch == 3 && finished.cursor == batches.last?.cursor)

        // Cut after epoch 2's first batch; its cursor and 2 more epochs (2 and 3) give the rest.
        let cursor = batches[3].cursor
        #expect(cursor.hasPrefix("loom2.4.2.5.0.1."), "\(cursor)")
        let (resumedHead, rest, restEnd) = try frames("selection=pets:train&batch=5&size=16&cursor=\(cursor)&epochs=2")
        #expect(resumedHead.header("x-loom-batch-count") == "5", "\(resumedHead.headers)")
        #expect(rest.map(\.pixels) == want[4...].map(\.pixels) && rest.map(\.epoch) == [2, 2, 3, 3, 3])
        #expect(restEnd?.cursor == batches.last?.cursor)

        for (query, name) in [("epochs=0", "epochs"), ("epochs=100001", "epochs"), ("epoch=2147483647&epochs=2", "epochs")] {
            let refused = try fixture.get("/v1/batches?selection=pets:train&batch=5&size=16&" + query)
            #expect(refused.status == 400 && refused.error.contains("parameter \(name)"), "\(query): \(refused)")
        }
    }
}
