/// A blob's catalog row: where its bytes are and what they are.
public struct BlobRecord: Hashable, Sendable {
    public var id: Int64
    public var location: BlobLocation
    public var mediaType: String
}

/// The blobs table: the read side (writes go through ``StoreWriter/stage(_:digest:mediaType:policy:)``
/// and its commit, which keep bytes and rows in crash-safe order).
public protocol BlobReading {
    func blob(_ digest: Digest) throws -> BlobRecord?
    /// A digest given in full or as a unique hex prefix of at least 4 digits: `invalid-input`
    /// when it is neither, `not-found` when nothing matches, `invalid-input` (ambiguous) when several do.
    func resolve(_ text: String) throws -> Digest
}
