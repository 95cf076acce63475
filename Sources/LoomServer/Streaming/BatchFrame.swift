import Hummingbird
import LoomLoader

/// The binary frame of `GET /v1/batches` (docs/batch-stream.md is the reference).
///
/// A fixed 128-byte little-endian header, then `pixel_bytes` of uint8 NHWC pixels, then
/// `label_bytes` of int64 labels:
///
/// | offset | size | field |
/// |---|---|---|
/// | 0 | 8 | magic `LOOMBAT1` |
/// | 8 | 4 | header_bytes (128) |
/// | 12 | 4 | n (samples; 0 in end and error frames) |
/// | 16 | 4 | height |
/// | 20 | 4 | width |
/// | 24 | 4 | channels (3) |
/// | 28 | 4 | flags: bit 0 last batch of the epoch, bit 1 end of stream, bit 2 error |
/// | 32 | 8 | epoch |
/// | 40 | 8 | position_after (samples of this rank's epoch delivered after this frame) |
/// | 48 | 8 | pixel_bytes (n*h*w*c; in an error frame, the UTF-8 message's length) |
/// | 56 | 8 | label_bytes (n*8) |
/// | 64 | 64 | cursor: the resume token after this frame, ASCII, NUL-padded |
public enum BatchFrame {
    public static let magic: [UInt8] = Array("LOOMBAT1".utf8)
    public static let headerBytes = 128
    public static let cursorBytes = 64

    public struct Flags: OptionSet, Sendable {
        public let rawValue: UInt32
        public init(rawValue: UInt32) { self.rawValue = rawValue }
        public static let lastOfEpoch = Flags(rawValue: 1 << 0)
        public static let endOfStream = Flags(rawValue: 1 << 1)
        public static let error = Flags(rawValue: 1 << 2)
    }

    /// A batch frame as the three buffers written in turn: the header, the pixels (the view's,
    /// as they are, in `pixels`: ``FramePixels`` gives the loader's memory itself), and the
    /// labels widened to int64.
    static func batch(_ view: Loader.BatchView, pixels: ByteBuffer, size: Int, epoch: Int, cursor: ResumeToken,
                      last: Bool) -> [ByteBuffer] {
        let labelBytes = view.count * 8
        var head = ByteBufferAllocator().buffer(capacity: headerBytes)
        writeHeader(into: &head, n: view.count, height: size, width: size, flags: last ? .lastOfEpoch : [], epoch: epoch,
                    positionAfter: cursor.position, pixelBytes: pixels.readableBytes, labelBytes: labelBytes, cursor: cursor)
        var labels = ByteBufferAllocator().buffer(capacity: labelBytes)
        for label in view.labels { labels.writeInteger(Int64(label), endianness: .little) }
        return [head, pixels, labels]
    }

    /// The frame that ends a complete stream: n = 0, the cursor where the stream stopped.
    static func end(size: Int, epoch: Int, cursor: ResumeToken) -> ByteBuffer {
        var buffer = ByteBufferAllocator().buffer(capacity: headerBytes)
        writeHeader(into: &buffer, n: 0, height: size, width: size, flags: .endOfStream, epoch: epoch,
                    positionAfter: cursor.position, pixelBytes: 0, labelBytes: 0, cursor: cursor)
        return buffer
    }

    /// The frame that ends a failed stream: its payload is the error in words; the cursor is
    /// where the failed batch started, so a client can retry from there.
    static func error(_ message: String, size: Int, epoch: Int, cursor: ResumeToken) -> ByteBuffer {
        let text = Array(message.utf8)
        var buffer = ByteBufferAllocator().buffer(capacity: headerBytes + text.count)
        writeHeader(into: &buffer, n: 0, height: size, width: size, flags: [.endOfStream, .error], epoch: epoch,
                    positionAfter: cursor.position, pixelBytes: text.count, labelBytes: 0, cursor: cursor)
        buffer.writeBytes(text)
        return buffer
    }

    private static func writeHeader(into buffer: inout ByteBuffer, n: Int, height: Int, width: Int, flags: Flags, epoch: Int,
                                    positionAfter: Int, pixelBytes: Int, labelBytes: Int, cursor: ResumeToken) {
        let start = buffer.writerIndex
        buffer.writeBytes(magic)
        buffer.writeInteger(UInt32(headerBytes), endianness: .little)
        buffer.writeInteger(UInt32(n), endianness: .little)
        buffer.writeInteger(UInt32(height), endianness: .little)
        buffer.writeInteger(UInt32(width), endianness: .little)
        buffer.writeInteger(UInt32(3), endianness: .little)
        buffer.writeInteger(flags.rawValue, endianness: .little)
        buffer.writeInteger(UInt64(epoch), endianness: .little)
        buffer.writeInteger(UInt64(positionAfter), endianness: .little)
        buffer.writeInteger(UInt64(pixelBytes), endianness: .little)
        buffer.writeInteger(UInt64(labelBytes), endianness: .little)
        let token = Array(cursor.description.utf8.prefix(cursorBytes))
        buffer.writeBytes(token)
        buffer.writeRepeatingByte(0, count: cursorBytes - token.count)
        assert(buffer.writerIndex - start == headerBytes)
    }
}
