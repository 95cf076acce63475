import Foundation
import LoomStore

/// `loom ingest` of one tree by several processes at once on a fleet store: the files are cut
/// into shares that the processes claim from the catalog under a renewed lease, as `loom
/// generate` claims its jobs, so each file is read, hashed and uploaded by one process.
///
/// A share is the files whose (split, path) hash to one bucket: job key `i/N` holds the files
/// with FNV-1a(split, path) mod N == i. Membership needs nothing but the key and the file, so
/// processes that scanned the tree at different moments still agree on what a share holds, with no
/// assumption about the order their scans list files in. The first process plans the shares of a
/// shared run (stage `ingest`, config naming the root and split, still `running`); later ones join
/// it. Every share a process claims commits before its job is marked done, and the rows are upserts
/// by (split, path), so a share a killed process held is simply done again by another after its lease.
enum ClaimedShares {
    /// Files per share when a run is planned (each share is then a few commits' worth of work).
    static let filesPerShare = 256

    /// Claims and ingests shares until none is left; returns, per file of the scan, whether it
    /// was in a share this process took.
    static func run(_ ingestor: Ingestor, pass: inout Ingestor.Pass) throws -> [Bool] {
        let options = ingestor.options, plan = pass.plan, writer = pass.writer
        let files = plan.scan.files
        let config = try CanonicalJSON.text(["shared": "true", "root": plan.root, "split": options.split ?? ""])
        let planned = (files.count + filesPerShare - 1) / filesPerShare
        // The dataset's rows are made here rather than with the first batch: the shared run
        // belongs to the dataset, and planners of one dataset take turns on its row.
        let known = pass.setup
        let (setup, runID) = try writer.transaction { tx -> (Setup, Int64) in
            let setup = try known ?? Setup(tx: tx, options: options, plan: plan)
            try tx.runs.serializePlanning(datasetID: setup.datasetID)
            let filter = RunFilter(stage: .ingest, status: .running, datasetID: setup.datasetID, config: config)
            if let run = try tx.runs.runs(filter, offset: 0, limit: 1).first {
                try tx.runs.resume(id: run.id, parentID: nil)
                return (setup, run.id)
            }
            let id = try tx.runs.begin(stage: .ingest, datasetID: setup.datasetID, parentID: nil, config: config)
            try tx.jobs.plan((0..<planned).map { "\($0)/\(planned)" }, for: id)
            return (setup, id)
        }
        pass.setup = setup
        let renewer = writer.renewingLeases(runID: runID, lease: options.lease)
        defer { renewer?.stop() }

        let hashes = files.map { fnv1a($0.split, $0.path) }
        // The files of every share, per share count (one pass over the scan for each N a run uses).
        var buckets: [UInt64: [UInt64: [Int]]] = [:]
        func members(_ index: UInt64, of count: UInt64) -> [Int] {
            if buckets[count] == nil {
                var grouped: [UInt64: [Int]] = [:]
                for file in files.indices { grouped[hashes[file] % count, default: []].append(file) }
                buckets[count] = grouped
            }
            return buckets[count]?[index] ?? []
        }
        var covered = Array(repeating: false, count: files.count)
        var shares = 0
        while true {
            let claimed = try JobClaims.nextRound(of: runID, writer: writer, limit: 1, lease: options.lease)
            guard let job = claimed.first else { break }
            guard let (index, count) = parse(job.key) else {
                try writer.transaction { try $0.jobs.markFailed(job.key, of: runID, error: "not a share key (i/N)") }
                continue
            }
            let share = members(index, of: count)
            for member in share { covered[member] = true }
            try ingestor.ingest(pass.pending(share.map { files[$0] }[...]), pass: &pass)
            try writer.transaction { try $0.jobs.markDone(job.key, of: runID) }
            shares += 1
        }
        try JobClaims.close(runID, summary: try CanonicalJSON.text(["shares_here": "\(shares)"]), failed: false, writer: writer)
        return covered
    }

    /// `i/N` with 0 <= i < N.
    static func parse(_ key: String) -> (index: UInt64, count: UInt64)? {
        let parts = key.split(separator: "/")
        guard parts.count == 2, let index = UInt64(parts[0]), let count = UInt64(parts[1]), count > 0, index < count else { return nil }
        return (index, count)
    }

    /// FNV-1a (64-bit) of the split's and the path's UTF-8 bytes with a 0 between: the same in
    /// every process, unlike Swift's seeded `Hasher`.
    static func fnv1a(_ split: String, _ path: String) -> UInt64 {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        func mix(_ byte: UInt8) {
            hash ^= UInt64(byte)
            hash = hash &* 0x0000_0100_0000_01b3
        }
        for byte in split.utf8 { mix(byte) }
        mix(0)
        for byte in path.utf8 { mix(byte) }
        return hash
    }
}
