import Foundation
import GRDB
import LoomLoader
import LoomStore

/// The catalog side of a training run, one path for both trainers (the Swift CPU trainer in
/// ``TrainRun`` and the PyTorch worker in ``TorchTrainRun``): the run row and its samples, an
/// epoch's checkpoint blob committed with its `train_epochs` row, the finished summary and the
/// per-class accuracy. What a checkpoint blob holds is the trainer's business; the recorder
/// stores bytes under a media type.
enum TrainRecorder {
    /// The run to train into: the newest unfinished one with this identity when resuming (set
    /// back to running, adopted by `parentRunID`), else a new row with the training samples.
    static func beginRun(writer: StoreWriter, identity: String, table: SampleTable, config: TrainConfig, resume: Bool,
                         parentRunID: Int64?) throws -> (runID: Int64, resumed: Bool) {
        let store = writer.store
        if resume, let unfinished = try unfinishedRun(identity: identity, store: store) {
            try store.catalog.write { db in
                try db.execute(sql: "UPDATE runs SET status = 'running', parent_id = coalesce(?, parent_id) WHERE id = ?",
                               arguments: [parentRunID, unfinished])
            }
            return (unfinished, true)
        }
        return (try insertRun(writer: writer, identity: identity, table: table, config: config, parentRunID: parentRunID), false)
    }

    /// Every component's dataset must share one label space, or labels would mean different classes.
    static func checkLabelSpace(store: Store, config: TrainConfig) throws {
        let names = ([config.train] + (config.eval.map { [$0] } ?? []))
        let datasets = try names.flatMap { try Selection(parsing: $0).components.map(\.dataset) }
        try store.catalog.read { db in
            var reference: (String, [String])?
            for dataset in Set(datasets).sorted() {
                let classes = try String.fetchAll(db, sql: """
                    SELECT c.wnid FROM classes c JOIN datasets d ON d.id = c.dataset_id WHERE d.name = ? ORDER BY c.label
                    """, arguments: [dataset])
                if let (name, expected) = reference, expected != classes {
                    throw TrainError("datasets \(name) and \(dataset) have different classes; a run needs one label space")
                }
                reference = reference ?? (dataset, classes)
            }
        }
    }

    static func insertRun(writer: StoreWriter, identity: String, table: SampleTable, config: TrainConfig,
                          parentRunID: Int64?) throws -> Int64 {
        let dataset = try Selection(parsing: config.train).components[0].dataset
        return try writer.store.catalog.write { db in
            try db.execute(sql: """
                INSERT INTO runs (stage, dataset_id, config, status, parent_id)
                VALUES ('train', (SELECT id FROM datasets WHERE name = ?), ?, 'running', ?)
                """, arguments: [dataset, identity, parentRunID])
            let runID = db.lastInsertedRowID
            let insert = try db.cachedStatement(sql: "INSERT OR IGNORE INTO run_samples (run_id, blob_id, label) VALUES (?, ?, ?)")
            for index in 0..<table.count {
                try insert.execute(arguments: [runID, table.blobIDs[index], Int(table.labels[index])])
            }
            return runID
        }
    }

    /// Stores the epoch's checkpoint as a blob and, in one transaction, its `checkpoints` row, the
    /// epoch's `train_epochs` row, and the pruning of checkpoints past `keep`.
    static func commitEpoch(writer: StoreWriter, runID: Int64, metrics: EpochMetrics, checkpoint bytes: [UInt8],
                            mediaType: String, cursor: String, keep: Int) throws -> Digest {
        let digest = Digest.sha256(bytes)
        try bytes.withUnsafeBytes { _ = try writer.stage($0, digest: digest, mediaType: mediaType, policy: .auto) }
        try writer.commit { db, ids in
            let blobID = try ids[digest] ?? Int64.fetchOne(db, sql: "SELECT id FROM blobs WHERE digest = ?", arguments: [digest])
            try db.execute(sql: """
                INSERT OR REPLACE INTO train_epochs (run_id, epoch, loss, train_top1, eval_top1, eval_top5, images_per_s, seconds)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?)
                """, arguments: [runID, metrics.epoch, metrics.loss, metrics.trainTop1, metrics.evalTop1, metrics.evalTop5,
                                 metrics.imagesPerSecond, metrics.seconds])
            try db.execute(sql: """
                INSERT OR REPLACE INTO checkpoints (run_id, epoch, blob_id, cursor) VALUES (?, ?, ?, ?)
                """, arguments: [runID, metrics.epoch, blobID, cursor])
            try db.execute(sql: """
                DELETE FROM checkpoints WHERE run_id = ? AND epoch NOT IN
                    (SELECT epoch FROM checkpoints WHERE run_id = ? ORDER BY epoch DESC LIMIT ?)
                """, arguments: [runID, runID, max(1, keep)])
        }
        return digest
    }

    /// The newest checkpoint blob of a run: its epoch, digest and bytes (read and checked from the store).
    static func latestCheckpoint(runID: Int64, store: Store) throws -> (epoch: Int, digest: Digest, bytes: [UInt8])? {
        let row = try store.catalog.read { db in
            try Row.fetchOne(db, sql: """
                SELECT b.digest, b.shard_id, b.offset, b.stored_size, b.raw_size, b.codec, k.epoch
                FROM checkpoints k JOIN blobs b ON b.id = k.blob_id
                WHERE k.run_id = ? ORDER BY k.epoch DESC LIMIT 1
                """, arguments: [runID])
        }
        guard let row else { return nil }
        let location = try BlobLocation(row: row)
        return (row["epoch"], location.digest, try store.blobs.read(location))
    }

    /// The newest checkpoint's digest, without reading the blob.
    static func latestCheckpointDigest(runID: Int64, store: Store) throws -> Digest? {
        try store.catalog.read { db in
            try Digest.fetchOne(db, sql: """
                SELECT b.digest FROM checkpoints k JOIN blobs b ON b.id = k.blob_id WHERE k.run_id = ? ORDER BY k.epoch DESC LIMIT 1
                """, arguments: [runID])
        }
    }

    static func markFailed(runID: Int64, error: any Error, store: Store) {
        try? store.catalog.write { db in
            try db.execute(sql: "UPDATE runs SET status = 'failed', summary = json_object('error', ?) WHERE id = ?",
                           arguments: ["\(error)", runID])
        }
    }

    static func finish(runID: Int64, summary: TrainSummary, store: Store) throws {
        let json = try CanonicalJSON.text(summary)
        try store.catalog.write { db in
            try db.execute(sql: "DELETE FROM eval_classes WHERE run_id = ?", arguments: [runID])
            for entry in summary.perClass {
                try db.execute(sql: "INSERT INTO eval_classes (run_id, label, correct, total) VALUES (?, ?, ?, ?)",
                               arguments: [runID, entry.label, entry.correct, entry.total])
            }
            try db.execute(sql: """
                UPDATE runs SET status = 'finished', summary = ?, finished_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now') WHERE id = ?
                """, arguments: [json, runID])
        }
    }

    static func storedMetrics(runID: Int64, epoch: Int, store: Store) throws -> EpochMetrics {
        let row = try store.catalog.read { db in
            try Row.fetchOne(db, sql: "SELECT * FROM train_epochs WHERE run_id = ? AND epoch = ?", arguments: [runID, epoch])
        }
        guard let row else { throw TrainError("run \(runID) has a checkpoint for epoch \(epoch) but no metrics") }
        return EpochMetrics(epoch: epoch, loss: row["loss"], trainTop1: row["train_top1"], evalTop1: row["eval_top1"],
                            evalTop5: row["eval_top5"], imagesPerSecond: row["images_per_s"], seconds: row["seconds"],
                            learningRate: 0)
    }

    static func unfinishedRun(identity: String, store: Store) throws -> Int64? {
        try store.catalog.read { db in
            try Int64.fetchOne(db, sql: """
                SELECT id FROM runs WHERE stage = 'train' AND config = ? AND status IN ('running', 'failed') ORDER BY id DESC LIMIT 1
                """, arguments: [identity])
        }
    }

    static func finishedRun(identity: String, store: Store) throws -> TrainSummary? {
        let runID = try store.catalog.read { db in
            try Int64.fetchOne(db, sql: """
                SELECT id FROM runs WHERE stage = 'train' AND config = ? AND status = 'finished' ORDER BY id DESC LIMIT 1
                """, arguments: [identity])
        }
        return try runID.flatMap { try finishedRun(runID: $0, store: store) }
    }

    /// A finished run's stored summary, marked as reused.
    static func finishedRun(runID: Int64, store: Store) throws -> TrainSummary? {
        let text = try store.catalog.read { db in
            try String.fetchOne(db, sql: "SELECT summary FROM runs WHERE id = ? AND status = 'finished'", arguments: [runID])
        }
        guard let text else { return nil }
        var summary = try JSONDecoder().decode(TrainSummary.self, from: Data(text.utf8))
        summary.reused = true
        return summary
    }
}
