/// Where the samples of one selection component come from.
public enum SampleSource: Hashable, Sendable {
    /// The real images of a split, in path order.
    case real(splitID: Int64)
    /// The synthetic images of a dataset made with one prompt strategy, in generation order.
    case synthetic(datasetID: Int64, strategy: String)
}

/// A pixel-cache image: the decoded, resized pixels of a sample at one short side.
public struct CachedPixelsRecord: Hashable, Sendable {
    public var location: BlobLocation
    public var width: Int
    public var height: Int
    public init(location: BlobLocation, width: Int, height: Int) {
        self.location = location
        self.width = width
        self.height = height
    }
}

/// One sample as the loader needs it: everything to read and label it without asking again.
public struct SampleRecord: Sendable {
    public var blobID: Int64
    public var classID: Int64
    public var label: Int
    public var location: BlobLocation
    public var cached: CachedPixelsRecord?
}

/// The loader's one query: samples streamed in a stable order, hundreds of thousands a call, so
/// implementations keep it to one prepared statement and no allocation per row.
public protocol SampleReading {
    /// Calls `body` for every sample of `source`, with its pixel-cache image at `cacheShortSide` when built.
    func forEachSample(_ source: SampleSource, cacheShortSide: Int?, _ body: (SampleRecord) throws -> Void) throws
}
