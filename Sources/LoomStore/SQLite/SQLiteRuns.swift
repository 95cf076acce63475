internal import GRDB

protocol SQLiteRunQueries: RunReading, SQLiteRepository {}

extension SQLiteRunQueries {
    static var select: String {
        """
        SELECT r.id, r.stage, r.dataset_id, d.name AS dataset, r.status, r.config, r.summary, r.started_at, r.finished_at, r.parent_id
        FROM runs r LEFT JOIN datasets d ON d.id = r.dataset_id
        """
    }

    static func record(_ row: Row) -> RunRecord {
        RunRecord(id: row["id"], stage: RunStage(rawValue: row["stage"]), datasetID: row["dataset_id"], dataset: row["dataset"],
                  status: RunStatus(rawValue: row["status"]), config: row["config"], summary: row["summary"],
                  startedAt: row["started_at"], finishedAt: row["finished_at"], parentID: row["parent_id"])
    }

    func run(id: Int64) throws -> RunRecord? {
        try Row.fetchOne(db.cachedStatement(sql: Self.select + " WHERE r.id = ?"), arguments: [id]).map(Self.record)
    }

    func requireRun(id: Int64) throws -> RunRecord {
        guard let run = try run(id: id) else { throw StoreError(.notFound, "no run with id \(id)") }
        return run
    }

    func runs(_ filter: RunFilter, offset: Int, limit: Int) throws -> [RunRecord] {
        try Row.fetchAll(db.cachedStatement(sql: Self.select + """
             WHERE (?1 IS NULL OR r.stage = ?1) AND (?2 IS NULL OR r.status = ?2) AND (?3 IS NULL OR r.dataset_id = ?3)
               AND (?4 IS NULL OR r.config = ?4)
             ORDER BY r.id DESC LIMIT ?5 OFFSET ?6
            """), arguments: [filter.stage?.rawValue, filter.status?.rawValue, filter.datasetID, filter.config, limit, offset])
            .map(Self.record)
    }

    func children(of id: Int64) throws -> [Int64] {
        try Int64.fetchAll(db, sql: "SELECT id FROM runs WHERE parent_id = ? ORDER BY id", arguments: [id])
    }

    func count() throws -> Int { try Int.fetchOne(db, sql: "SELECT count(*) FROM runs") ?? 0 }
}

struct SQLiteRunReader: SQLiteRunQueries {
    let db: Database
}

struct SQLiteRunWriter: SQLiteRunQueries, RunWriting {
    func serializePlanning(datasetID: Int64) throws {}

    let db: Database

    func begin(stage: RunStage, datasetID: Int64?, parentID: Int64?, config: String) throws -> Int64 {
        try db.execute(sql: "INSERT INTO runs (stage, dataset_id, parent_id, config, status) VALUES (?, ?, ?, ?, 'running')",
                       arguments: [stage.rawValue, datasetID, parentID, config])
        return db.lastInsertedRowID
    }

    func resume(id: Int64, parentID: Int64?) throws -> RunRecord {
        try db.execute(sql: """
            UPDATE runs SET status = 'running', finished_at = NULL, parent_id = coalesce(?, parent_id)
            WHERE id = ? AND status IN ('running', 'failed')
            """, arguments: [parentID, id])
        try requireChange(id, to: "resume")
        return try requireRun(id: id)
    }

    func progress(id: Int64, summary: String) throws {
        try db.execute(sql: "UPDATE runs SET summary = ? WHERE id = ? AND status = 'running'", arguments: [summary, id])
        try requireChange(id, to: "record progress of")
    }

    func finish(id: Int64, summary: String) throws {
        try conclude(id, status: .finished, summary: summary)
    }

    func finishFailed(id: Int64, summary: String) throws {
        try conclude(id, status: .failed, summary: summary)
    }

    private func conclude(_ id: Int64, status: RunStatus, summary: String) throws {
        try db.execute(sql: """
            UPDATE runs SET status = ?, summary = ?, finished_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now')
            WHERE id = ? AND status = 'running'
            """, arguments: [status.rawValue, summary, id])
        try requireChange(id, to: "finish")
    }

    func fail(id: Int64, message: String) throws {
        // finished_at stays NULL: a failed run has not finished, and `resume` may pick it up.
        try db.execute(sql: "UPDATE runs SET status = 'failed', summary = json_object('error', ?) WHERE id = ? AND status = 'running'",
                       arguments: [message, id])
        try requireChange(id, to: "fail")
    }

    func reopen(id: Int64) throws -> RunRecord {
        try db.execute(sql: "UPDATE runs SET status = 'running', finished_at = NULL WHERE id = ? AND status = 'finished'",
                       arguments: [id])
        try requireChange(id, to: "reopen")
        return try requireRun(id: id)
    }

    func adopt(id: Int64, parentID: Int64) throws {
        try db.execute(sql: "UPDATE runs SET parent_id = ? WHERE id = ?", arguments: [parentID, id])
        if db.changesCount == 0 { _ = try requireRun(id: id) }
    }

    /// After a guarded UPDATE: nothing changed means no such run (`not-found`) or a transition
    /// the lifecycle forbids (`conflict`, naming the status it is in).
    private func requireChange(_ id: Int64, to verb: String) throws {
        guard db.changesCount == 0 else { return }
        let run = try requireRun(id: id)
        throw StoreError(.conflict, "cannot \(verb) run \(id): it is \(run.status)")
    }
}
