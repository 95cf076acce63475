import Foundation

/// A whole object's file in a ``ShardCache``, held open so that reads of it skip the cache's
/// bookkeeping (one `pread`, no task or actor hop): what a loader reading a warm cache needs.
///
/// Objects are immutable, so an open file always holds the right bytes, even once the cache has
/// evicted (unlinked) it; ``isEvicted`` says so, and the holder should then close it (drop it)
/// so the disk space comes back and the next read goes through the cache again.
public final class CachedShardFile: Sendable {
    private let file: LocalFile

    init(_ file: LocalFile) { self.file = file }

    /// Bytes `range` (fewer at the end of the object).
    public func read(_ range: Range<Int64>) throws -> [UInt8] {
        let start = min(range.lowerBound, file.size), end = min(range.upperBound, file.size)
        return try file.read(offset: start, length: Int(end - start))
    }

    /// Whether the cache has removed the file since it was opened.
    public var isEvicted: Bool {
        var info = stat()
        return fstat(file.descriptor, &info) != 0 || info.st_nlink == 0
    }
}

extension ShardCache {
    /// The file of `name` opened for reading when the cache holds it whole, else nil (never
    /// downloads). A download in progress writes elsewhere, so a file found here is complete.
    public nonisolated func openCached(_ name: String) -> CachedShardFile? {
        guard !name.isEmpty, let file = try? LocalFile(reading: Self.path(directory, name)) else { return nil }
        return CachedShardFile(file)
    }
}
