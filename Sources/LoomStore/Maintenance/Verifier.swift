import GRDB

/// What `loom verify` found. JSON keys are part of the CLI contract.
public struct VerifyReport: Codable, Sendable {
    /// A row that depends on a broken record.
    public struct AffectedRow: Codable, Sendable, Hashable {
        public var dataset: String
        public var split: String
        public var path: String
    }

    public struct Problem: Codable, Sendable {
        public var shard: String
        public var offset: Int?
        public var digest: String?
        public var reason: String
        public var rows: [AffectedRow]
    }

    public var ok: Bool
    public var catalog: String
    public var shards: Int
    public var records: Int
    public var bytes: Int
    public var problems: [Problem]
}

/// Re-reads every record the catalog references and checks it against the catalog.
///
/// For each shard: the file exists, its header is valid, it is at least as long as the committed
/// length, and a sealed shard's index and trailer check out. For each blob row: the record at
/// its offset has the right magic, header checksum, digest, sizes and payload checksum, and the
/// decoded bytes hash to the digest. Each problem names the shard, offset and digest, and the
/// real images that point at the damaged bytes.
public enum Verifier {
    public static func run(_ store: Store, progress: (_ done: Int, _ total: Int) -> Void = { _, _ in }) throws -> VerifyReport {
        let (quickCheck, shards, locations) = try store.catalog.read { db in
            let check = try String.fetchAll(db, sql: "PRAGMA quick_check").joined(separator: "; ")
            let shards = try Row.fetchAll(db, sql: "SELECT id, committed_bytes, sealed_bytes FROM shards ORDER BY id")
            let locations = try Row.fetchAll(db, sql: "SELECT id, \(BlobLocation.columns) FROM blobs ORDER BY shard_id, offset")
                .map { (id: $0["id"] as Int64, location: try BlobLocation(row: $0)) }
            return (check, shards, locations)
        }
        var problems: [(VerifyReport.Problem, [Int64])] = []
        var brokenShards: Set<Int64> = []
        for row in shards {
            let id: Int64 = row["id"]
            if let reason = checkShard(store, id: id, committed: row["committed_bytes"], sealed: row["sealed_bytes"]) {
                brokenShards.insert(id)
                let affected = locations.filter { $0.location.shardID == id }.map(\.id)
                problems.append((VerifyReport.Problem(shard: StoreLayout.shardName(id), offset: nil, digest: nil, reason: reason, rows: []), affected))
            }
        }
        var buffer: [UInt8] = []
        var bytes = 0
        for (index, entry) in locations.enumerated() {
            let location = entry.location
            if brokenShards.contains(location.shardID) { continue }
            do {
                _ = try store.blobs.read(location, into: &buffer, verifyDigest: true)
                bytes += location.recordSize
            } catch {
                let reason = (error as? StoreError)?.message ?? "\(error)"
                problems.append((VerifyReport.Problem(
                    shard: StoreLayout.shardName(location.shardID), offset: location.offset, digest: location.digest.hex,
                    reason: reason, rows: []), [entry.id]))
            }
            if index % 256 == 0 { progress(index, locations.count) }
        }
        progress(locations.count, locations.count)
        let reported = try problems.map { problem, blobIDs in
            var problem = problem
            problem.rows = try affectedRows(store, blobIDs: blobIDs)
            return problem
        }
        return VerifyReport(
            ok: reported.isEmpty && quickCheck == "ok", catalog: quickCheck, shards: shards.count, records: locations.count,
            bytes: bytes, problems: reported)
    }

    /// Structural checks of one shard file; nil when it is sound.
    static func checkShard(_ store: Store, id: Int64, committed: Int, sealed: Int?) -> String? {
        do {
            let file = try store.blobs.shardFile(id)
            let size = try file.size()
            if case .failure(let problem) = ShardFormat.decodeFileHeader(try file.read(count: ShardFormat.fileHeaderSize, at: 0)) {
                return "file header: \(problem)"
            }
            guard let sealed else {
                return size >= committed ? nil : "file is \(size) bytes, shorter than its committed length \(committed)"
            }
            guard size == sealed else { return "sealed shard is \(size) bytes, the catalog says \(sealed)" }
            switch ShardFormat.decodeTrailer(try file.read(count: ShardFormat.trailerSize, at: size - ShardFormat.trailerSize)) {
            case .failure(let problem): return "\(problem)"
            case .success(let trailer):
                let indexBytes = trailer.count * ShardFormat.indexEntrySize
                guard trailer.indexOffset == committed, trailer.indexOffset + indexBytes + ShardFormat.trailerSize == size else {
                    return "index trailer disagrees with the file size"
                }
                let index = try file.read(count: indexBytes, at: trailer.indexOffset)
                guard index.withUnsafeBytes({ CRC32.checksum($0) }) == trailer.indexCRC else { return "index checksum mismatch" }
                return nil
            }
        } catch {
            return (error as? StoreError)?.message ?? "\(error)"
        }
    }

    static func affectedRows(_ store: Store, blobIDs: [Int64]) throws -> [VerifyReport.AffectedRow] {
        guard !blobIDs.isEmpty else { return [] }
        return try store.catalog.read { db in
            var rows: [VerifyReport.AffectedRow] = []
            for chunk in stride(from: 0, to: blobIDs.count, by: 500).map({ Array(blobIDs[$0..<min($0 + 500, blobIDs.count)]) }) {
                let marks = chunk.map { _ in "?" }.joined(separator: ",")
                rows += try Row.fetchAll(db, sql: """
                    SELECT d.name AS dataset, s.name AS split, r.path FROM real_images r
                    JOIN splits s ON s.id = r.split_id JOIN datasets d ON d.id = s.dataset_id
                    WHERE r.blob_id IN (\(marks)) ORDER BY d.name, s.name, r.path
                    """, arguments: StatementArguments(chunk)).map {
                    VerifyReport.AffectedRow(dataset: $0["dataset"], split: $0["split"], path: $0["path"])
                }
            }
            return rows
        }
    }
}
