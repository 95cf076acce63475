/// A pixel-cache image to record: `cache` holds the RGB8 pixels of `source` at one short side.
public struct PixelCacheEntry: Hashable, Sendable {
    public var source: Digest
    public var cache: Digest
    public var width: Int
    public var height: Int
    public init(source: Digest, cache: Digest, width: Int, height: Int) {
        self.source = source
        self.cache = cache
        self.width = width
        self.height = height
    }
}

public protocol PixelCacheReading {
    /// The cache image of `source` at `shortSide`, when built.
    func cached(_ source: Digest, shortSide: Int) throws -> CachedPixelsRecord?
    /// How many images are cached at `shortSide`.
    func count(shortSide: Int) throws -> Int
}

public protocol PixelCacheWriting: PixelCacheReading {
    /// Records (or replaces) cache images; both blobs must be committed (or in this transaction).
    func put(_ entries: [PixelCacheEntry], shortSide: Int) throws
}
