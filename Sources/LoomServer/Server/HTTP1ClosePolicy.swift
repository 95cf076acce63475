import Hummingbird
import HummingbirdCore
import Logging
import NIOCore
import NIOHTTP1

/// Closes the HTTP/1 connections that must not be kept alive after their response, which
/// Hummingbird leaves open (it sees requests through HTTPTypes, which has no version and
/// keeps only an exact `Connection: close`):
///
/// - HTTP/1.0 requests: a 1.0 client reads a body without Content-Length (a batch stream) to
///   the end of the connection, and cannot read chunked encoding, so the answer is HTTP/1.0,
///   unchunked, `Connection: close`, and the connection closes after it;
/// - requests whose Connection header asks to close in any spelling (`Close`, `keep-alive, close`);
/// - CONNECT: NIO frames every answer to CONNECT without a body and stops parsing the
///   connection after it (it would be a tunnel), so the client can only find the answer's end
///   by the connection closing.
///
/// It sits between NIO's HTTP/1 codec, which knows the version, and the HTTPTypes conversion.
final class HTTP1ClosePolicyHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias InboundOut = HTTPServerRequestPart
    typealias OutboundIn = HTTPServerResponsePart
    typealias OutboundOut = HTTPServerResponsePart

    /// Per request read and not yet answered, oldest first: the version to answer in when the
    /// connection must close after the answer, else nil.
    private var waiting = CircularBuffer<HTTPVersion?>()
    /// Set while writing an answer after which the connection closes.
    private var closing = false

    static func mustClose(_ head: HTTPRequestHead) -> Bool {
        head.version != .http1_1 || !head.isKeepAlive || head.method == .CONNECT
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if case .head(let head) = unwrapInboundIn(data) {
            waiting.append(Self.mustClose(head) ? head.version : nil)
        }
        context.fireChannelRead(data)
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        switch unwrapOutboundIn(data) {
        case .head(var head):
            let code = head.status.code
            // An interim 1xx answer is followed by the final one, which ends the exchange.
            guard code >= 200 || code == 101, let entry = waiting.popFirst() else { return context.write(data, promise: promise) }
            guard let version = entry else { return context.write(data, promise: promise) }
            closing = true
            if version == .http1_0 { head.version = .http1_0 }
            head.headers.replaceOrAdd(name: "connection", value: "close")
            context.write(wrapOutboundOut(.head(head)), promise: promise)
        case .body:
            context.write(data, promise: promise)
        case .end:
            guard closing else { return context.write(data, promise: promise) }
            closing = false
            let written = promise ?? context.eventLoop.makePromise()
            context.write(data, promise: written)
            written.futureResult.assumeIsolated().whenComplete { _ in context.close(promise: nil) }
        }
    }
}

/// Hummingbird's HTTP/1 channel with ``HTTP1ClosePolicyHandler`` added before its HTTPTypes
/// conversion.
struct LoomHTTP1Channel: ServerChildChannel {
    typealias Value = HTTP1Channel.Value
    let inner: HTTP1Channel

    func setup(channel: any Channel, logger: Logger) -> EventLoopFuture<Value> {
        inner.setup(channel: channel, logger: logger).flatMapThrowing { value in
            let pipeline = channel.pipeline.syncOperations
            let decoder = try pipeline.handler(type: ByteToMessageHandler<HTTPRequestDecoder>.self)
            try pipeline.addHandler(HTTP1ClosePolicyHandler(), position: .after(decoder))
            return value
        }
    }

    func handle(value: Value, logger: Logger) async {
        await inner.handle(value: value, logger: logger)
    }

    static func server() -> HTTPServerBuilder {
        HTTPServerBuilder { responder in LoomHTTP1Channel(inner: HTTP1Channel(responder: responder)) }
    }
}
