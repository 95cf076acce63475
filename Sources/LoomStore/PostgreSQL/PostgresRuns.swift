internal import NIOCore
internal import PostgresNIO

protocol PostgresRunQueries: RunReading, PostgresRepository {}

extension PostgresRunQueries {
    static var select: String {
        """
        SELECT r.id, r.stage, r.dataset_id, d.name AS dataset, r.status, r.config, r.summary, r.started_at, r.finished_at, r.parent_id
        FROM runs r LEFT JOIN datasets d ON d.id = r.dataset_id
        """
    }

    static func record(_ row: PostgresRandomAccessRow) throws -> RunRecord {
        RunRecord(id: try row.value("id"), stage: RunStage(rawValue: try row.value("stage")), datasetID: try row.value("dataset_id"),
                  dataset: try row.value("dataset"), status: RunStatus(rawValue: try row.value("status")),
                  config: try row.value("config"), summary: try row.value("summary"), startedAt: try row.value("started_at"),
                  finishedAt: try row.value("finished_at"), parentID: try row.value("parent_id"))
    }

    func run(id: Int64) throws -> RunRecord? {
        try session.rows("\(unescaped: Self.select) WHERE r.id = \(id)").first.map(Self.record)
    }

    func requireRun(id: Int64) throws -> RunRecord {
        guard let run = try run(id: id) else { throw StoreError(.notFound, "no run with id \(id)") }
        return run
    }

    func runs(_ filter: RunFilter, offset: Int, limit: Int) throws -> [RunRecord] {
        let stage = filter.stage?.rawValue, status = filter.status?.rawValue
        return try session.rows("""
            \(unescaped: Self.select)
            WHERE (\(stage)::text IS NULL OR r.stage = \(stage)) AND (\(status)::text IS NULL OR r.status = \(status))
              AND (\(filter.datasetID)::bigint IS NULL OR r.dataset_id = \(filter.datasetID))
              AND (\(filter.config)::text IS NULL OR r.config = \(filter.config))
            ORDER BY r.id DESC LIMIT \(limit) OFFSET \(offset)
            """).map(Self.record)
    }

    func children(of id: Int64) throws -> [Int64] {
        try session.rows("SELECT id FROM runs WHERE parent_id = \(id) ORDER BY id").map { try $0.value(0, Int64.self) }
    }

    func count() throws -> Int { try session.scalar("SELECT count(*) FROM runs", as: Int.self) ?? 0 }
}

struct PostgresRunReader: PostgresRunQueries {
    let session: PostgresSession
}

/// The run ledger's lifecycle as guarded UPDATEs: under READ COMMITTED a concurrent change to
/// the same run makes PostgreSQL re-check the guard after it commits, so two processes can
/// never both finish (or resume) one run.
struct PostgresRunWriter: PostgresRunQueries, RunWriting {
    func serializePlanning(datasetID: Int64) throws {
        try session.execute("SELECT id FROM datasets WHERE id = \(datasetID) FOR UPDATE")
    }

    let session: PostgresSession

    func begin(stage: RunStage, datasetID: Int64?, parentID: Int64?, config: String) throws -> Int64 {
        guard let id = try session.scalar("""
            INSERT INTO runs (stage, dataset_id, parent_id, config, status)
            VALUES (\(stage.rawValue), \(datasetID), \(parentID), \(config), 'running') RETURNING id
            """, as: Int64.self) else { throw StoreError(.io, "PostgreSQL at \(session.endpoint): INSERT INTO runs returned no id") }
        return id
    }

    func resume(id: Int64, parentID: Int64?) throws -> RunRecord {
        let changed = try session.execute("""
            UPDATE runs SET status = 'running', finished_at = NULL, parent_id = coalesce(\(parentID)::bigint, parent_id)
            WHERE id = \(id) AND status IN ('running', 'failed')
            """)
        try requireChange(changed, id, to: "resume")
        return try requireRun(id: id)
    }

    func progress(id: Int64, summary: String) throws {
        let changed = try session.execute("UPDATE runs SET summary = \(summary) WHERE id = \(id) AND status = 'running'")
        try requireChange(changed, id, to: "record progress of")
    }

    func finish(id: Int64, summary: String) throws {
        try conclude(id, status: .finished, summary: summary)
    }

    func finishFailed(id: Int64, summary: String) throws {
        try conclude(id, status: .failed, summary: summary)
    }

    private func conclude(_ id: Int64, status: RunStatus, summary: String) throws {
        let changed = try session.execute("""
            UPDATE runs SET status = \(status.rawValue), summary = \(summary), finished_at = loom_now()
            WHERE id = \(id) AND status = 'running'
            """)
        try requireChange(changed, id, to: "finish")
    }

    func reopen(id: Int64) throws -> RunRecord {
        let changed = try session.execute("UPDATE runs SET status = 'running', finished_at = NULL WHERE id = \(id) AND status = 'finished'")
        try requireChange(changed, id, to: "reopen")
        return try requireRun(id: id)
    }

    func adopt(id: Int64, parentID: Int64) throws {
        let changed = try session.execute("UPDATE runs SET parent_id = \(parentID) WHERE id = \(id)")
        if changed == 0 { _ = try requireRun(id: id) }
    }

    func fail(id: Int64, message: String) throws {
        // `{"error":...}` spelled as SQLite's json_object spells it (to_json escapes as it does),
        // so a failed run's summary is the same text on both backends.
        let changed = try session.execute("""
            UPDATE runs SET status = 'failed', summary = '{"error":' || to_json(\(message)::text)::text || '}'
            WHERE id = \(id) AND status = 'running'
            """)
        try requireChange(changed, id, to: "fail")
    }

    /// Nothing changed means no such run (`not-found`) or a move the lifecycle forbids (`conflict`).
    private func requireChange(_ changed: Int, _ id: Int64, to verb: String) throws {
        guard changed == 0 else { return }
        let run = try requireRun(id: id)
        throw StoreError(.conflict, "cannot \(verb) run \(id): it is \(run.status)")
    }
}
