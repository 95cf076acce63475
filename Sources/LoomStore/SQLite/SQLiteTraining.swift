internal import GRDB

protocol SQLiteTrainingQueries: TrainingReading, SQLiteRepository {}

extension SQLiteTrainingQueries {
    func epochs(of runID: Int64) throws -> [EpochRecord] {
        try Row.fetchAll(db, sql: """
            SELECT epoch, loss, train_top1, eval_top1, eval_top5, images_per_s, seconds FROM train_epochs WHERE run_id = ? ORDER BY epoch
            """, arguments: [runID]).map {
            EpochRecord(epoch: $0["epoch"], loss: $0["loss"], trainTop1: $0["train_top1"], evalTop1: $0["eval_top1"],
                        evalTop5: $0["eval_top5"], imagesPerSecond: $0["images_per_s"], seconds: $0["seconds"])
        }
    }

    func evalClasses(of runID: Int64) throws -> [EvalClassRecord] {
        try Row.fetchAll(db, sql: """
            SELECT e.label, e.correct, e.total, c.wnid, c.name
            FROM eval_classes e LEFT JOIN classes c ON c.dataset_id = (SELECT dataset_id FROM runs WHERE id = ?1) AND c.label = e.label
            WHERE e.run_id = ?1 ORDER BY e.label
            """, arguments: [runID]).map {
            EvalClassRecord(label: $0["label"], wnid: $0["wnid"], name: $0["name"], correct: $0["correct"], total: $0["total"])
        }
    }

    func checkpoints(of runID: Int64) throws -> [CheckpointRecord] {
        try Row.fetchAll(db, sql: """
            SELECT k.epoch, b.digest, k.cursor, k.created_at
            FROM checkpoints k JOIN blobs b ON b.id = k.blob_id WHERE k.run_id = ? ORDER BY k.epoch
            """, arguments: [runID]).map {
            CheckpointRecord(epoch: $0["epoch"], digest: try SQLiteRows.digest($0["digest"]), cursor: $0["cursor"],
                             createdAt: $0["created_at"])
        }
    }

    func samples(of runID: Int64) throws -> [(blobID: Int64, label: Int)] {
        try Row.fetchAll(db, sql: "SELECT blob_id, label FROM run_samples WHERE run_id = ? ORDER BY blob_id", arguments: [runID])
            .map { (blobID: $0["blob_id"], label: $0["label"]) }
    }
}

struct SQLiteTrainingReader: SQLiteTrainingQueries {
    let db: Database
}

struct SQLiteTrainingWriter: SQLiteTrainingQueries, TrainingWriting {
    let db: Database

    func recordEpoch(_ epoch: EpochRecord, of runID: Int64) throws {
        try db.execute(sql: """
            INSERT OR REPLACE INTO train_epochs (run_id, epoch, loss, train_top1, eval_top1, eval_top5, images_per_s, seconds)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?)
            """, arguments: [runID, epoch.epoch, epoch.loss, epoch.trainTop1, epoch.evalTop1, epoch.evalTop5,
                             epoch.imagesPerSecond, epoch.seconds])
    }

    func recordCheckpoint(of runID: Int64, epoch: Int, blobID: Int64, cursor: String) throws {
        try db.execute(sql: """
            INSERT INTO checkpoints (run_id, epoch, blob_id, cursor) VALUES (?, ?, ?, ?)
            ON CONFLICT (run_id, epoch) DO UPDATE SET blob_id = excluded.blob_id, cursor = excluded.cursor
            """, arguments: [runID, epoch, blobID, cursor])
    }

    func pruneCheckpoints(of runID: Int64, keep: Int) throws {
        try db.execute(sql: """
            DELETE FROM checkpoints WHERE run_id = ?1 AND epoch NOT IN
                (SELECT epoch FROM checkpoints WHERE run_id = ?1 ORDER BY epoch DESC LIMIT ?2)
            """, arguments: [runID, max(1, keep)])
    }

    func recordEvalClasses(_ classes: [EvalClassRecord], of runID: Int64) throws {
        try db.execute(sql: "DELETE FROM eval_classes WHERE run_id = ?", arguments: [runID])
        let insert = try db.cachedStatement(sql: "INSERT INTO eval_classes (run_id, label, correct, total) VALUES (?, ?, ?, ?)")
        for entry in classes { try insert.execute(arguments: [runID, entry.label, entry.correct, entry.total]) }
    }

    func recordSamples(_ samples: [(blobID: Int64, label: Int)], of runID: Int64) throws {
        let insert = try db.cachedStatement(sql: "INSERT OR IGNORE INTO run_samples (run_id, blob_id, label) VALUES (?, ?, ?)")
        for sample in samples { try insert.execute(arguments: [runID, sample.blobID, sample.label]) }
    }
}
