import Foundation
import HTTPTypes
import Hummingbird
import LoomLoader
import Logging
import LoomStore
import ServiceLifecycle

/// `GET /v1/batches`: the loader's batches, streamed as binary frames (``BatchFrame``) over
/// one chunked response, so a trainer on another machine consumes Loom's loader.
///
/// The parameters are the loader's (`loom stream`): the same selection, seed, epoch, rank
/// and world give the same batches, byte for byte. Every frame carries the resume token that
/// follows it; reconnecting with `cursor=` set to the last one received continues exactly
/// where the cut stream stopped.
enum BatchStreamRoutes {
    static let routes: [Route] = [Route(.get, "/v1/batches", batches)]

    static let parameters: Set<String> = [
        "selection", "batch", "size", "augment", "seed", "epoch", "epochs", "rank", "world", "cursor", "remainder", "drop_last",
        "epoch_length",
    ]

    /// The most epochs one request streams.
    static let maximumEpochs = 100_000

    /// What a request asks the loader for.
    struct Request: Sendable {
        var selection: Selection
        var batch: Int
        var spec: TransformSpec
        var config: SamplerConfig
        var epoch: Int
        /// Epochs streamed, from `epoch` (the cursor's, when resuming) on.
        var epochs: Int = 1
        var start: Int
        var dropLast: Bool
        var cursor: ResumeToken? = nil
    }

    static func parse(_ request: HummingbirdCore.Request) throws -> Request {
        let query = try QueryParameters(request, allowed: parameters)
        let selectionText = try query.requiredString("selection")
        let selection: Selection
        do {
            selection = try Selection(parsing: selectionText)
        } catch let error as LoaderError {
            throw APIError.badParameter("selection", error.message)
        }
        for component in selection.components {
            try QueryParameters.checkName(component.dataset, parameter: "selection")
            switch component.source {
            case .real(let split): try QueryParameters.checkName(split, parameter: "selection")
            case .synthetic(let strategy): try QueryParameters.checkName(strategy, parameter: "selection")
            }
        }
        let batch = try query.int("batch", in: 1...65_536) ?? 256
        let size = try query.int("size", in: 1...4096) ?? 224
        let augment = try query.choice("augment", Augment.self) ?? .train
        var seed = try query.uint64("seed") ?? 0
        var epoch = try query.int("epoch", in: 0...Int(Int32.max)) ?? 0
        var rank = try query.int("rank", in: 0...65_535) ?? 0
        var world = try query.int("world", in: 1...65_536) ?? 1
        var start = 0
        var cursor: ResumeToken? = nil
        if let text = try query.string("cursor") {
            let token: ResumeToken
            do {
                token = try ResumeToken(parsing: text)
            } catch let error as LoaderError {
                throw APIError.badParameter("cursor", error.message)
            }
            // A cursor fixes these; a request that also names them must agree, or it is
            // resuming some other stream by mistake.
            for (name, given, fixed) in [("seed", query.has("seed") ? String(seed) : nil, String(token.seed)),
                                         ("epoch", query.has("epoch") ? String(epoch) : nil, String(token.epoch)),
                                         ("rank", query.has("rank") ? String(rank) : nil, String(token.rank)),
                                         ("world", query.has("world") ? String(world) : nil, String(token.world))] {
                if let given, given != fixed {
                    throw APIError.badParameter(name, "\(given) disagrees with the cursor's \(fixed)")
                }
            }
            (seed, epoch, rank, world, start) = (token.seed, token.epoch, token.rank, token.world, token.position)
            cursor = token
        }
        guard rank < world else { throw APIError.badParameter("rank", "\(rank) is outside world size \(world)") }
        let remainder = try query.choice("remainder", RankRemainder.self) ?? .pad
        let epochLength = try query.int("epoch_length", in: 1...Int(Int32.max))
        let epochs = try query.int("epochs", in: 1...maximumEpochs) ?? 1
        guard epoch + (epochs - 1) <= Int(Int32.max) else {
            throw APIError.badParameter("epochs", "\(epochs) epochs from epoch \(epoch) run past epoch \(Int32.max)")
        }
        return Request(
            selection: selection, batch: batch, spec: TransformSpec(size: size, augment: augment),
            config: SamplerConfig(seed: seed, rank: rank, world: world, remainder: remainder, epochLength: epochLength),
            epoch: epoch, epochs: epochs, start: start, dropLast: try query.bool("drop_last") ?? false, cursor: cursor)
    }

    /// Owns the first epoch's loader for the producer thread, with what the later epochs' are
    /// made from. `@unchecked`: the loader is created on a blocking-work thread and from then
    /// on touched only by the one producer thread, which takes it out, so the loader's buffers
    /// go when the producer is done with them.
    final class LoaderBox: @unchecked Sendable {
        private var loader: Loader?
        let store: Store
        let table: SampleTable
        init(_ loader: Loader, store: Store) {
            self.loader = loader
            self.store = store
            self.table = loader.table
        }
        func take() -> Loader? {
            defer { loader = nil }
            return loader
        }
    }

    /// Batch frames a stream holds besides its loader's ring, each owning a batch's pixel memory
    /// (``FramePixels``): those queued, the one the producer is building, and two in the writer
    /// (one waiting for the socket to drain, one the socket is taking).
    static let framesInFlight = queueCapacity + 3
    static let queueCapacity = 2

    /// How long a client refused for want of a free stream should wait before asking again.
    static let retryAfterSeconds = 5

    /// The loader options for a request, with a ring that fits the server's memory budget.
    static func loaderOptions(_ asked: Request, configuration: ServerConfiguration) throws -> Loader.Options {
        var options = Loader.Options(batchSize: asked.batch, workers: configuration.loaderWorkers, dropLast: asked.dropLast)
        do {
            options.prefetch = try configuration.streamMemory.prefetch(for: options, size: asked.spec.size,
                                                                       consumerBuffers: framesInFlight)
        } catch {
            throw APIError.badParameter("batch", "\(error) (loom serve --stream-memory)")
        }
        // Within any budget a frame's pixels must fit one ByteBuffer (FramePixels.maximumBytes).
        if let bytes = StreamBudget.batchBytes(batch: asked.batch, size: asked.spec.size), bytes > FramePixels.maximumBytes {
            throw APIError.badParameter(
                "batch", "batch \(asked.batch) at size \(asked.spec.size) is \(StreamBudget.format(bytes)) of pixels per frame, "
                    + "over the \(StreamBudget.format(FramePixels.maximumBytes)) a frame can carry; lower batch or size")
        }
        return options
    }

    static func batches(_ request: HummingbirdCore.Request, _ context: BasicRequestContext, _ state: ServerState) async throws -> Response {
        let asked = try parse(request)
        let options = try loaderOptions(asked, configuration: state.configuration)
        guard let place = state.streams.admit() else {
            throw APIError(.serviceUnavailable,
                           "this server is serving its limit of \(state.streams.limit) batch streams (loom serve --max-streams); retry later",
                           headers: [.retryAfter: String(retryAfterSeconds)])
        }
        // Everything that can fail for a reason the client should hear about (no such dataset,
        // a cursor outside the epoch) fails here, before the 200 head is sent.
        let box: LoaderBox
        let headers: HTTPFields
        do {
            let prepared = try await state.store.read { store -> (LoaderBox, HTTPFields) in
                let table = try SampleTable.load(store, selection: asked.selection, cacheShortSide: asked.spec.evalResize)
                do {
                    try asked.cursor?.check(table: table, config: asked.config)  // a cursor from another selection
                } catch let error as LoaderError {
                    throw APIError.badParameter("cursor", error.message)
                }
                let loader = try Loader(
                    store: store, table: table, spec: asked.spec, config: asked.config, epoch: asked.epoch,
                    options: options, startPosition: asked.start)
                return (LoaderBox(loader, store: store), try streamHeaders(loader, asked: asked))
            }
            (box, headers) = (prepared.0, prepared.1)
        } catch {
            place.abandon()
            throw error
        }
        let queue = FrameQueue(capacity: queueCapacity, metrics: state.metrics)
        startProducer(box, asked: asked, options: options, queue: queue, place: place, logger: context.logger)
        // Owned by the body: when the body is done, or dropped unrun because the client went
        // away before the head was written, the queue closes (the producer stops) and the body's
        // hold on the place goes.
        let end = ConsumerEnd(queue: queue, place: place)
        let metrics = state.metrics
        return Response(status: .ok, headers: headers, body: ResponseBody { writer in
            defer { withExtendedLifetime(end) {} }
            metrics.streamStarted()
            defer { metrics.streamEnded() }
            try await withGracefulShutdownHandler {
                do {
                    // A shutdown closes the queue: the stream ends without its end frame, which
                    // tells the client to reconnect with its last cursor.
                    while let frame = await queue.pop() {
                        for buffer in frame.buffers { try await writer.write(buffer) }
                        let bytes = frame.buffers.reduce(0) { $0 + $1.readableBytes }
                        if frame.samples > 0 {
                            metrics.batchSent(samples: frame.samples, bytes: bytes)
                        } else {
                            metrics.responseBytes(bytes, route: "/v1/batches")
                        }
                        if frame.terminal { break }
                    }
                    queue.close()
                    try await writer.finish(nil)
                } catch {
                    queue.close()  // the client went away: stop the producer and the loader
                    throw error
                }
            } onGracefulShutdown: {
                queue.close()
            }
        })
    }

    /// The body's end of a stream (see ``batches(_:_:_:)``).
    final class ConsumerEnd: Sendable {
        let queue: FrameQueue
        let place: StreamPlace
        init(queue: FrameQueue, place: StreamPlace) {
            self.queue = queue
            self.place = place
        }
        deinit {
            queue.close()
            place.leave()
        }
    }

    private static func streamHeaders(_ loader: Loader, asked: Request) throws -> HTTPFields {
        var longestToken = loader.resumeToken
        longestToken.position = loader.endPosition
        longestToken.epoch = asked.epoch + asked.epochs - 1
        let longest = longestToken.description
        guard longest.utf8.count <= BatchFrame.cursorBytes else {
            throw APIError(.badRequest, "this stream's cursors would be longer than \(BatchFrame.cursorBytes) bytes; use a smaller seed")
        }
        return [
            .contentType: "application/x-loom-batches",
            .cacheControl: "no-store",
            HTTPField.Name("X-Loom-Batch-Count")!: String(loader.streamBatchCount(epochs: asked.epochs)),
            HTTPField.Name("X-Loom-Sample-Count")!: String(loader.streamSampleCount(epochs: asked.epochs)),
            HTTPField.Name("X-Loom-Epochs")!: String(asked.epochs),
            HTTPField.Name("X-Loom-Classes")!: String(loader.table.classNames.count),
            HTTPField.Name("X-Loom-Cursor")!: loader.resumeToken.description,
        ]
    }

    private static func startProducer(_ box: LoaderBox, asked: Request, options: Loader.Options, queue: FrameQueue, place: StreamPlace,
                                      logger: Logger) {
        let thread = Thread {
            produce(box, asked: asked, options: options, queue: queue, logger: logger)
            // After `produce` returned, and with it the last reference to the loader's buffers.
            place.leave()
        }
        thread.name = "loom-serve-stream"
        thread.start()
    }

    private static func produce(_ box: LoaderBox, asked: Request, options: Loader.Options, queue: FrameQueue, logger: Logger) {
        let size = asked.spec.size
        // A batch whose pixels cannot leave the ring (no memory to map its replacement) ends the
        // stream as a loader failure does, with an error frame at the batch's start.
        var takeError: (any Error)? = nil
        // Each loader is held only inside the run, which lets one go before it makes the next,
        // and the last when it returns: then the thread leaves the stream's place.
        var first = box.take()
        var report = BatchProducer.run(epochs: asked.epochs, first: &first, next: { k in
            Result {
                try Loader(store: box.store, table: box.table, spec: asked.spec, config: asked.config, epoch: asked.epoch + k,
                           options: options)
            }
        }) { loader, view, after in
            let taken: Loader.TakenPixels
            do {
                taken = try loader.takePixels()
            } catch {
                takeError = error
                return false
            }
            let pixels = FramePixels.buffer(taking: taken, count: view.pixels.count)
            let frame = BatchFrame.batch(view, pixels: pixels, size: size, epoch: loader.plan.epoch, cursor: after,
                                         last: view.endPosition == loader.endPosition)
            return queue.push(.init(buffers: frame, samples: view.count, terminal: false))
        }
        if let takeError { report.end = .failed(takeError) }
        let epoch = report.cursor.epoch
        switch report.end {
        case .consumerStopped:
            return
        case .finished:
            _ = queue.push(.init(buffers: [BatchFrame.end(size: size, epoch: epoch, cursor: report.cursor)], samples: 0, terminal: true))
        case .failed(let error):
            logger.error("batch stream failed", metadata: ["error": "\(error)", "cursor": "\(report.cursor)"])
            _ = queue.push(.init(buffers: [BatchFrame.error("\(error)", size: size, epoch: epoch, cursor: report.cursor)],
                                 samples: 0, terminal: true))
        }
    }
}
