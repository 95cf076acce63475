internal import NIOCore
internal import PostgresNIO

struct PostgresBlobReader: BlobReading, PostgresRepository {
    let session: PostgresSession

    static let columns = #"b.digest, b.shard_id, b."offset", b.stored_size, b.raw_size, b.codec"#

    func blob(_ digest: Digest) throws -> BlobRecord? {
        guard let row = try session.rows("""
            SELECT b.id, \(unescaped: Self.columns), b.media_type FROM blobs b WHERE b.digest = \(digest.postgres)
            """).first else { return nil }
        return BlobRecord(id: try row.value("id"), location: try Self.location(row), mediaType: try row.value("media_type"))
    }

    func resolve(_ text: String) throws -> Digest {
        let hex = text.lowercased()
        if let full = Digest(hex: hex) { return full }
        guard hex.count >= 4, hex.count < 64, Digest.decodeHex(hex.count % 2 == 0 ? hex : hex + "0") != nil else {
            throw StoreError(.invalidArgument, "\"\(text)\" is not a digest or a hex prefix of at least 4 digits")
        }
        // A range scan on the digest's unique index: bytea compares byte by byte.
        let low = Digest(hex: hex + String(repeating: "0", count: 64 - hex.count))!
        let high = Digest(hex: hex + String(repeating: "f", count: 64 - hex.count))!
        let matches = try session.rows("""
            SELECT digest FROM blobs WHERE digest BETWEEN \(low.postgres) AND \(high.postgres) ORDER BY digest LIMIT 2
            """).map { try $0.digest("digest") }
        switch matches.count {
        case 0: throw StoreError(.notFound, "no blob with digest prefix \(hex)")
        case 1: return matches[0]
        default: throw StoreError(.ambiguous, "digest prefix \(hex) matches several blobs; give more digits")
        }
    }

    /// A blob's location from the columns named in ``columns`` (the same checks as ``BlobLocation/init(row:)``).
    static func location(_ row: PostgresRandomAccessRow) throws -> BlobLocation {
        let digest = try row.digest("digest")
        let codecName: String = try row.value("codec")
        guard let codec = ShardFormat.Codec(name: codecName) else {
            throw StoreError(.corrupt, "blob \(digest) has unknown codec \(codecName)")
        }
        return BlobLocation(digest: digest, shardID: try row.value("shard_id"), offset: try row.value("offset"),
                            storedSize: try row.value("stored_size"), rawSize: try row.value("raw_size"), codec: codec)
    }
}

/// The blob rows of a commit.
enum PostgresBlobWriter {
    /// Inserts the rows not yet there and returns the id of every digest's row. Two writers that
    /// stored the same bytes resolve on the digest's unique key: the first commit's row stays,
    /// the second finds it (READ COMMITTED reads what the first committed), and its own copy of
    /// the bytes is garbage for `loom gc`.
    static func insert(_ blobs: [PostgresBlobRow], session: PostgresSession) throws -> [Digest: Int64] {
        var ids: [Digest: Int64] = [:]
        for blob in blobs where ids[blob.location.digest] == nil {
            let location = blob.location
            if let id = try session.scalar("""
                INSERT INTO blobs (digest, shard_id, "offset", stored_size, raw_size, codec, media_type)
                VALUES (\(location.digest.postgres), \(location.shardID), \(location.offset), \(location.storedSize),
                        \(location.rawSize), \(location.codec.name), \(blob.mediaType))
                ON CONFLICT (digest) DO NOTHING RETURNING id
                """, as: Int64.self) {
                ids[location.digest] = id
            } else if let id = try session.scalar("SELECT id FROM blobs WHERE digest = \(location.digest.postgres)", as: Int64.self) {
                ids[location.digest] = id
            } else {
                throw StoreError(.io, "PostgreSQL at \(session.endpoint): blob \(location.digest) neither inserted nor found")
            }
        }
        return ids
    }
}
