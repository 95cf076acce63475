/// Where everything lives in a shared-memory batch ring (docs/batch-stream.md, "Shared-memory
/// ring", is the reference; `loom_client.ShmRing` reads it).
///
/// A 4096-byte header, then `slotCount` slots of `slotBytes` each (a multiple of 4096, so every
/// slot's pixels start page-aligned plus 128). Integers are little-endian, the machine's own
/// order: the ring never leaves the machine.
public struct SharedMemoryRingLayout: Sendable, Equatable {
    public static let magic: [UInt8] = Array("LOOMRNG1".utf8)
    public static let version: UInt32 = 1
    public static let headerBytes = 4096
    public static let slotHeaderBytes = 128
    public static let cursorBytes = 64
    public static let maxErrorBytes = headerBytes - Header.error

    /// Byte offsets of the header's fields.
    public enum Header {
        public static let magic = 0            // 8 bytes, "LOOMRNG1", written last
        public static let version = 8          // u32
        public static let headerBytes = 12     // u32, 4096
        public static let slotCount = 16       // u32
        public static let slotHeaderBytes = 20 // u32, 128
        public static let slotBytes = 24       // u64, the stride between slots
        public static let batch = 32           // u32, samples a slot holds at most
        public static let height = 36          // u32
        public static let width = 40           // u32
        public static let channels = 44        // u32, 3
        public static let labelsOffset = 48    // u64, from the slot's start
        public static let epoch = 56           // u64
        public static let batchCount = 64      // u64, batches this stream publishes
        public static let sampleCount = 72     // u64
        public static let producerPID = 80     // u32
        public static let consumerPID = 84     // u32, written by the consumer when it attaches
        public static let startCursor = 96     // 64 bytes, ASCII, NUL-padded
        public static let produced = 192       // u64, atomic: batches published (own cache line)
        public static let consumed = 256       // u64, atomic: batches the consumer released (own cache line)
        public static let state = 320          // u32: State
        public static let consumerClosed = 324 // u32: 1 once the consumer stopped early
        public static let errorBytes = 328     // u32, length of the message at `error`
        public static let error = 512          // UTF-8 message when state is .failed
    }

    /// Byte offsets inside a slot.
    public enum Slot {
        public static let sequence = 0         // u64: 2k+1 while batch k is written, 2k+2 once it is complete
        public static let count = 8            // u32, samples in this batch
        public static let flags = 12           // u32: bit 0 last batch of the epoch
        public static let index = 16           // u64, k
        public static let positionAfter = 24   // u64
        public static let cursor = 64          // 64 bytes: the resume token after this batch
        public static let pixels = 128         // count*height*width*channels uint8, NHWC
    }

    /// The producer's state word.
    public enum State: UInt32, Sendable {
        /// Batches may still come.
        case running = 0
        /// Every batch is published; `produced` is final.
        case done = 1
        /// The producer failed; the message is at ``Header/error``.
        case failed = 2
        /// The consumer closed the ring before the end, and the producer stopped.
        case abandoned = 3
    }

    public var slotCount: Int
    public var batch: Int
    public var height: Int
    public var width: Int
    public var channels: Int

    public init(slotCount: Int, batch: Int, height: Int, width: Int, channels: Int = 3) {
        self.slotCount = slotCount
        self.batch = batch
        self.height = height
        self.width = width
        self.channels = channels
    }

    /// Pixel bytes of a full slot.
    public var pixelCapacity: Int { batch * height * width * channels }

    /// Labels follow the pixels, 64-byte aligned.
    public var labelsOffset: Int { Self.roundUp(Self.slotHeaderBytes + pixelCapacity, to: 64) }

    /// The stride between slots: whole pages.
    public var slotBytes: Int { Self.roundUp(labelsOffset + batch * 8, to: 4096) }

    public var totalBytes: Int { Self.headerBytes + slotCount * slotBytes }

    /// Where batch `index` goes.
    public func slotOffset(batch index: Int) -> Int { Self.headerBytes + (index % slotCount) * slotBytes }

    static func roundUp(_ value: Int, to multiple: Int) -> Int { (value + multiple - 1) / multiple * multiple }
}
