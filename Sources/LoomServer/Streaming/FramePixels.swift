import Glibc
import LoomLoader
@_spi(CustomByteBufferAllocator) import NIOCore
import Synchronization

/// A batch's pixels as a `ByteBuffer` without copying them: the memory the loader rendered
/// into (``Loader/takePixels()``) becomes the buffer's storage, and goes back to the loaders'
/// pool when the channel lets go of the buffer.
///
/// Copying each 38.5 MB batch into a frame buffer took the producer thread 5-13 ms per batch
/// on a 2-core machine, time the decoders lost, and a stream's first frames paid page faults
/// for buffers malloc had just mapped (48 ms for the first frame of each request). The
/// buffer's allocator hooks are C function pointers, which carry no context: the memory a
/// buffer owns is looked up by its address.
enum FramePixels {
    /// Taken pixel memory that a buffer owns, by base address.
    private static let owned = Mutex<[UInt: Loader.TakenPixels]>([:])

    /// Allocates as NIO's default does (malloc); frees taken pixels into the loaders' pool. NIO
    /// allocates or reallocates only if a buffer is written to, which frames never are once made.
    private static let allocator = ByteBufferAllocator(
        allocate: { size in malloc(size) },
        reallocate: { pointer, oldSize, newSize in FramePixels.reallocate(pointer, oldSize: oldSize, newSize: newSize) },
        deallocate: { pointer in FramePixels.deallocate(pointer) },
        copy: { target, source, count in _ = memcpy(target, source, count) })

    /// The largest pixel payload a buffer holds: `ByteBuffer` counts its capacity in 32 bits,
    /// and the loaders' pool rounds a buffer up to whole pages.
    static let maximumBytes = Int(UInt32.max) / Int(getpagesize()) * Int(getpagesize())

    /// A buffer whose readable bytes are the first `count` bytes of `pixels`; it owns them from
    /// now on. `count` is at most ``maximumBytes`` (checked before a stream starts).
    static func buffer(taking pixels: Loader.TakenPixels, count: Int) -> ByteBuffer {
        precondition(count <= pixels.memory.count && pixels.memory.count <= maximumBytes)
        let address = UInt(bitPattern: pixels.memory.baseAddress)
        owned.withLock { $0[address] = pixels }
        return ByteBuffer(takingOwnershipOf: pixels.memory, allocator: allocator, readerIndex: 0, writerIndex: count)
    }

    /// Whether a buffer still owns the taken pixels at `address`.
    static func owns(_ address: UInt) -> Bool { owned.withLock { $0[address] != nil } }

    private static func take(_ pointer: UnsafeMutableRawPointer) -> Loader.TakenPixels? {
        owned.withLock { $0.removeValue(forKey: UInt(bitPattern: pointer)) }
    }

    private static func deallocate(_ pointer: UnsafeMutableRawPointer) {
        if let pixels = take(pointer) { pixels.release() } else { free(pointer) }
    }

    private static func reallocate(_ pointer: UnsafeMutableRawPointer?, oldSize: Int, newSize: Int) -> UnsafeMutableRawPointer? {
        guard let pointer, let pixels = take(pointer) else { return realloc(pointer, newSize) }
        // The pool's mappings are not malloc's to resize: move the bytes to malloc'd memory.
        let moved = malloc(newSize)
        if let moved { memcpy(moved, pointer, min(oldSize, newSize)) }
        pixels.release()
        return moved
    }
}
