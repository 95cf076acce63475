internal import GRDB

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

/// How thoroughly `verify` checks the catalog file itself.
public enum CatalogCheck: String, Sendable, CaseIterable {
    /// `PRAGMA integrity_check`: also compares every index with its table (an index that lost or
    /// gained entries makes lookups miss rows that exist).
    case full
    /// `PRAGMA quick_check`: page structure only, O(N); misses index/table disagreements.
    case quick

    var pragma: String { self == .full ? "PRAGMA integrity_check" : "PRAGMA quick_check" }
}

/// Re-reads every record the catalog references and checks it against the catalog.
///
/// For each shard: the file exists, its header is valid, it is at least as long as the committed
/// length, and a sealed shard's index and trailer check out. For each blob row: the record at
/// its offset has the right magic, header checksum, digest, sizes and payload checksum, and the
/// decoded bytes hash to the digest. Each problem names the shard, offset and digest, and the
/// real images that point at the damaged bytes. A missing shard is one problem naming all its
/// rows; in a shard cut short, the records before the cut are checked as usual and each record
/// past it is a problem of its own.
public enum Verifier {
    public static func run(_ store: Store, catalogCheck: CatalogCheck = .full,
                           progress: (_ done: Int, _ total: Int) -> Void = { _, _ in }) throws -> VerifyReport {
        if let fleet = store.fleet { return try FleetVerifier.run(store, fleet: fleet, progress: progress) }
        let scan = try self.scan(store, catalogCheck: catalogCheck, progress: progress)
        let reported = try scan.problems.map { problem in
            var report = problem.report
            report.rows = try affectedRows(store, blobIDs: problem.blobIDs)
            return report
        }
        return VerifyReport(
            ok: reported.isEmpty && scan.catalog == "ok", catalog: scan.catalog, shards: scan.shardCount,
            records: scan.records, bytes: scan.bytes, problems: reported)
    }

    /// What a scan found, with the catalog ids behind each problem (what `repair` drops).
    struct Scan {
        struct Problem {
            var report: VerifyReport.Problem
            /// The blobs the problem makes unreadable (a record problem: its blob; a missing
            /// shard: all of its blobs; a shard whose index or header is bad: its blobs, which
            /// may still read fine one by one).
            var blobIDs: [Int64]
            var shardID: Int64
            /// The blob's own bytes are lost (as opposed to a shard-level problem).
            var lostRecord: Bool
        }

        var catalog: String
        var shardCount: Int
        var records: Int
        var bytes: Int
        var problems: [Problem]
        /// Shards whose file is gone.
        var missingShards: Set<Int64>
    }

    static func scan(_ store: Store, catalogCheck: CatalogCheck,
                     progress: (_ done: Int, _ total: Int) -> Void = { _, _ in }) throws -> Scan {
        let (catalogResult, shards, locations) = try store.catalog.read { db in
            let check = try String.fetchAll(db, sql: catalogCheck.pragma).joined(separator: "; ")
            let shards = try Row.fetchAll(db, sql: "SELECT id, committed_bytes, sealed_bytes FROM shards ORDER BY id")
            let locations = try Row.fetchAll(db, sql: "SELECT id, \(BlobLocation.columns) FROM blobs ORDER BY shard_id, offset")
                .map { (id: $0["id"] as Int64, location: try BlobLocation(row: $0)) }
            return (check, shards, locations)
        }
        var problems: [Scan.Problem] = []
        var sizes: [Int64: Int] = [:]
        var missing: Set<Int64> = []
        for row in shards {
            let id: Int64 = row["id"]
            let committed: Int = row["committed_bytes"]
            let state = checkShard(store, id: id, committed: committed, sealed: row["sealed_bytes"])
            if let size = state.size { sizes[id] = size }
            if state.missing { missing.insert(id) }
            guard let reason = state.problem else { continue }
            // A cut file: the records past the cut are reported one by one below, so the
            // shard's own problem names no rows.
            let cut = (state.size ?? 0) < committed && state.size != nil
            let affected = cut ? [] : locations.filter { $0.location.shardID == id }.map(\.id)
            problems.append(Scan.Problem(
                report: VerifyReport.Problem(shard: StoreLayout.shardName(id), offset: nil, digest: nil, reason: reason, rows: []),
                blobIDs: affected, shardID: id, lostRecord: false))
        }
        var buffer: [UInt8] = []
        var bytes = 0
        for (index, entry) in locations.enumerated() {
            let location = entry.location
            if index % 256 == 0 { progress(index, locations.count) }
            guard let size = sizes[location.shardID] else { continue }  // no file to read: reported above
            let end = location.offset + location.recordSize
            var reason: String? = nil
            // Only bytes proven bad are lost; a read that failed for another reason (EIO, EMFILE,
            // memory) says nothing about them, so repair must not drop what is built on them.
            var lost = true
            if end > size {
                reason = "cut off: the file ends at \(size), inside this record (bytes \(location.offset)..<\(end))"
            } else {
                do {
                    _ = try store.blobs.read(location, into: &buffer, verifyDigest: true)
                    bytes += location.recordSize
                } catch {
                    reason = (error as? StoreError)?.message ?? "\(error)"
                    lost = (error as? StoreError)?.code == .corrupt
                }
            }
            if let reason {
                problems.append(Scan.Problem(
                    report: VerifyReport.Problem(
                        shard: StoreLayout.shardName(location.shardID), offset: location.offset, digest: location.digest.hex,
                        reason: reason, rows: []),
                    blobIDs: [entry.id], shardID: location.shardID, lostRecord: lost))
            }
        }
        progress(locations.count, locations.count)
        return Scan(catalog: catalogResult, shardCount: shards.count, records: locations.count, bytes: bytes,
                    problems: problems, missingShards: missing)
    }

    /// One shard file's structure: its size when it can be read, and what is wrong with it.
    struct ShardState {
        var size: Int?
        var problem: String?
        var missing = false
    }

    /// Structural checks of one shard file.
    static func checkShard(_ store: Store, id: Int64, committed: Int, sealed: Int?) -> ShardState {
        guard store.layout.shardFileExists(id) else {
            return ShardState(size: nil, problem: "shard file is missing (its blobs are lost; `loom repair` drops their rows)", missing: true)
        }
        var state = ShardState()
        do {
            let file = try store.blobs.shardFile(id)
            let size = try file.size()
            state.size = size
            if size < ShardFormat.fileHeaderSize {
                state.problem = "file is \(size) bytes, shorter than its committed length \(committed)"
                return state
            }
            if case .failure(let problem) = ShardFormat.decodeFileHeader(try file.read(count: ShardFormat.fileHeaderSize, at: 0)) {
                state.problem = "file header: \(problem)"
                return state
            }
            guard let sealed else {
                if size < committed { state.problem = "file is \(size) bytes, shorter than its committed length \(committed)" }
                return state
            }
            guard size == sealed else {
                state.problem = "sealed shard is \(size) bytes, the catalog says \(sealed)"
                return state
            }
            switch ShardFormat.decodeTrailer(try file.read(count: ShardFormat.trailerSize, at: size - ShardFormat.trailerSize)) {
            case .failure(let problem): state.problem = "\(problem)"
            case .success(let trailer):
                let indexBytes = trailer.count * ShardFormat.indexEntrySize
                guard trailer.indexOffset == committed, trailer.indexOffset + indexBytes + ShardFormat.trailerSize == size else {
                    state.problem = "index trailer disagrees with the file size"
                    return state
                }
                let index = try file.read(count: indexBytes, at: trailer.indexOffset)
                if index.withUnsafeBytes({ CRC32.checksum($0) }) != trailer.indexCRC { state.problem = "index checksum mismatch" }
            }
        } catch {
            state.problem = (error as? StoreError)?.message ?? "\(error)"
        }
        return state
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
