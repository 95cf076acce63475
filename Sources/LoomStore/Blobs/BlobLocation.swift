internal import GRDB

/// Where a blob's record lives: a (shard, offset, length) range, which maps one-to-one onto an
/// object store's range GET when shards move off the local disk.
public struct BlobLocation: Hashable, Sendable {
    public var digest: Digest
    public var shardID: Int64
    public var offset: Int
    public var storedSize: Int
    public var rawSize: Int
    public var codec: ShardFormat.Codec

    public var recordSize: Int { ShardFormat.recordHeaderSize + storedSize }

    /// The columns ``init(row:)`` expects, for SELECTs over `blobs`.
    public static let columns = "digest, shard_id, offset, stored_size, raw_size, codec"

    public init(digest: Digest, shardID: Int64, offset: Int, storedSize: Int, rawSize: Int, codec: ShardFormat.Codec) {
        self.digest = digest
        self.shardID = shardID
        self.offset = offset
        self.storedSize = storedSize
        self.rawSize = rawSize
        self.codec = codec
    }

    init(row: Row) throws {
        guard let digest = row["digest"] as Digest? else {
            throw StoreError(.corrupt, "blob row has a malformed digest")
        }
        guard let codec = ShardFormat.Codec(name: row["codec"]) else {
            throw StoreError(.corrupt, "blob \(digest) has unknown codec \(String(describing: row["codec"] as String?))")
        }
        self.init(digest: digest, shardID: row["shard_id"], offset: row["offset"],
                  storedSize: row["stored_size"], rawSize: row["raw_size"], codec: codec)
    }
}
