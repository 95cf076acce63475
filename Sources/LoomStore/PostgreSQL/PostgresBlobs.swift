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
    /// Rows per statement: bounds one statement's size on a big commit.
    static let batch = 4096

    /// Inserts the rows not yet there and returns the id of every digest's row, a batch per
    /// statement. Two writers that stored the same bytes resolve on the digest's unique key: the
    /// first commit's row stays, the second finds it (READ COMMITTED reads what the first
    /// committed), and its own copy of the bytes is garbage for `loom gc`. Rows go in in digest
    /// order, so two commits of overlapping blobs wait on each other in one order and never
    /// deadlock.
    static func insert(_ blobs: [PostgresBlobRow], session: PostgresSession) throws -> [Digest: Int64] {
        var seen = Set<Digest>()
        let unique = blobs.filter { seen.insert($0.location.digest).inserted }.sorted { $0.location.digest < $1.location.digest }
        var ids: [Digest: Int64] = [:]
        for start in stride(from: 0, to: unique.count, by: batch) {
            let rows = unique[start..<min(start + batch, unique.count)]
            let locations = rows.map(\.location)
            for row in try session.rows("""
                INSERT INTO blobs (digest, shard_id, "offset", stored_size, raw_size, codec, media_type)
                SELECT * FROM unnest(\(locations.map(\.digest.postgres))::bytea[], \(locations.map(\.shardID))::bigint[],
                                     \(locations.map(\.offset))::bigint[], \(locations.map(\.storedSize))::bigint[],
                                     \(locations.map(\.rawSize))::bigint[], \(locations.map(\.codec.name))::text[],
                                     \(rows.map(\.mediaType))::text[])
                ORDER BY 1
                ON CONFLICT (digest) DO NOTHING RETURNING digest, id
                """) {
                ids[try row.digest("digest")] = try row.value("id")
            }
            let existing = locations.map(\.digest).filter { ids[$0] == nil }
            guard !existing.isEmpty else { continue }
            for row in try session.rows("SELECT digest, id FROM blobs WHERE digest = ANY(\(existing.map(\.postgres))::bytea[])") {
                ids[try row.digest("digest")] = try row.value("id")
            }
            if let lost = existing.first(where: { ids[$0] == nil }) {
                throw StoreError(.io, "PostgreSQL at \(session.endpoint): blob \(lost) neither inserted nor found")
            }
        }
        return ids
    }
}
