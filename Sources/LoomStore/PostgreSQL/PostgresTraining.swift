internal import NIOCore
internal import PostgresNIO

protocol PostgresTrainingQueries: TrainingReading, PostgresRepository {}

extension PostgresTrainingQueries {
    func epochs(of runID: Int64) throws -> [EpochRecord] {
        try session.rows("""
            SELECT epoch, loss, train_top1, eval_top1, eval_top5, images_per_s, seconds FROM train_epochs
            WHERE run_id = \(runID) ORDER BY epoch
            """).map {
            EpochRecord(epoch: try $0.value("epoch"), loss: try $0.value("loss"), trainTop1: try $0.value("train_top1"),
                        evalTop1: try $0.value("eval_top1"), evalTop5: try $0.value("eval_top5"),
                        imagesPerSecond: try $0.value("images_per_s"), seconds: try $0.value("seconds"))
        }
    }

    func evalClasses(of runID: Int64) throws -> [EvalClassRecord] {
        try session.rows("""
            SELECT e.label, e.correct, e.total, c.wnid, c.name
            FROM eval_classes e
            LEFT JOIN classes c ON c.dataset_id = (SELECT dataset_id FROM runs WHERE id = \(runID)) AND c.label = e.label
            WHERE e.run_id = \(runID) ORDER BY e.label
            """).map {
            EvalClassRecord(label: try $0.value("label"), wnid: try $0.value("wnid"), name: try $0.value("name"),
                            correct: try $0.value("correct"), total: try $0.value("total"))
        }
    }

    func checkpoints(of runID: Int64) throws -> [CheckpointRecord] {
        try session.rows("""
            SELECT k.epoch, b.digest, k.cursor, k.created_at
            FROM checkpoints k JOIN blobs b ON b.id = k.blob_id WHERE k.run_id = \(runID) ORDER BY k.epoch
            """).map {
            CheckpointRecord(epoch: try $0.value("epoch"), digest: try $0.digest("digest"), cursor: try $0.value("cursor"),
                             createdAt: try $0.value("created_at"))
        }
    }
}

extension PostgresTrainingQueries {
    func samples(of runID: Int64) throws -> [(blobID: Int64, label: Int)] {
        try session.rows("SELECT blob_id, label FROM run_samples WHERE run_id = \(runID) ORDER BY blob_id").map {
            (blobID: try $0.value("blob_id"), label: try $0.value("label"))
        }
    }
}

struct PostgresTrainingReader: PostgresTrainingQueries {
    let session: PostgresSession
}

struct PostgresTrainingWriter: PostgresTrainingQueries, TrainingWriting {
    let session: PostgresSession

    func recordEpoch(_ epoch: EpochRecord, of runID: Int64) throws {
        try session.execute("""
            INSERT INTO train_epochs (run_id, epoch, loss, train_top1, eval_top1, eval_top5, images_per_s, seconds)
            VALUES (\(runID), \(epoch.epoch), \(epoch.loss), \(epoch.trainTop1), \(epoch.evalTop1), \(epoch.evalTop5),
                    \(epoch.imagesPerSecond), \(epoch.seconds))
            ON CONFLICT (run_id, epoch) DO UPDATE SET loss = excluded.loss, train_top1 = excluded.train_top1,
                eval_top1 = excluded.eval_top1, eval_top5 = excluded.eval_top5, images_per_s = excluded.images_per_s,
                seconds = excluded.seconds
            """)
    }

    func recordCheckpoint(of runID: Int64, epoch: Int, blobID: Int64, cursor: String) throws {
        try session.execute("""
            INSERT INTO checkpoints (run_id, epoch, blob_id, cursor) VALUES (\(runID), \(epoch), \(blobID), \(cursor))
            ON CONFLICT (run_id, epoch) DO UPDATE SET blob_id = excluded.blob_id, cursor = excluded.cursor
            """)
    }

    func pruneCheckpoints(of runID: Int64, keep: Int) throws {
        try session.execute("""
            DELETE FROM checkpoints WHERE run_id = \(runID) AND epoch NOT IN
                (SELECT epoch FROM checkpoints WHERE run_id = \(runID) ORDER BY epoch DESC LIMIT \(max(1, keep)))
            """)
    }

    func recordEvalClasses(_ classes: [EvalClassRecord], of runID: Int64) throws {
        try session.execute("DELETE FROM eval_classes WHERE run_id = \(runID)")
        guard !classes.isEmpty else { return }
        try session.execute("""
            INSERT INTO eval_classes (run_id, label, correct, total)
            SELECT \(runID), l, c, t FROM unnest(\(classes.map(\.label))::bigint[], \(classes.map(\.correct))::bigint[],
                                                 \(classes.map(\.total))::bigint[]) AS e(l, c, t)
            ON CONFLICT (run_id, label) DO UPDATE SET correct = excluded.correct, total = excluded.total
            """)
    }

    func recordSamples(_ samples: [(blobID: Int64, label: Int)], of runID: Int64) throws {
        guard !samples.isEmpty else { return }
        // Each once: ON CONFLICT DO NOTHING also takes a blob listed twice in one call.
        try session.execute("""
            INSERT INTO run_samples (run_id, blob_id, label)
            SELECT \(runID), b, l FROM unnest(\(samples.map(\.blobID))::bigint[], \(samples.map(\.label))::bigint[]) AS s(b, l)
            ON CONFLICT (run_id, blob_id) DO NOTHING
            """)
    }
}
