internal import NIOCore
internal import PostgresNIO

protocol PostgresJobQueries: JobReading, PostgresRepository {}

extension PostgresJobQueries {
    func jobs(of runID: Int64, state: JobState) throws -> [JobRecord] {
        try session.rows("""
            SELECT id, key, state, attempts, error FROM jobs WHERE run_id = \(runID) AND state = \(state.rawValue) ORDER BY id
            """).map {
            JobRecord(id: try $0.value("id"), key: try $0.value("key"), state: JobState(rawValue: try $0.value("state")),
                      attempts: try $0.value("attempts"), error: try $0.value("error"))
        }
    }

    func counts(of runID: Int64) throws -> [JobState: Int] {
        var counts: [JobState: Int] = [:]
        for row in try session.rows("SELECT state, count(*) AS n FROM jobs WHERE run_id = \(runID) GROUP BY state") {
            counts[JobState(rawValue: try row.value("state"))] = try row.value("n")
        }
        return counts
    }
}

struct PostgresJobReader: PostgresJobQueries {
    let session: PostgresSession
}

struct PostgresJobWriter: PostgresJobQueries, JobWriting {
    let session: PostgresSession

    /// One statement for the whole plan (one round trip), ids in the keys' order.
    func plan(_ keys: [String], for runID: Int64) throws {
        guard !keys.isEmpty else { return }
        try session.execute("""
            INSERT INTO jobs (run_id, key, state)
            SELECT \(runID), k, 'pending' FROM unnest(\(keys)::text[]) WITH ORDINALITY AS t(k, n) ORDER BY n
            ON CONFLICT (run_id, key) DO NOTHING
            """)
    }

    func markDone(_ key: String, of runID: Int64) throws {
        let changed = try session.execute("""
            UPDATE jobs SET state = 'done', attempts = attempts + 1, error = NULL WHERE run_id = \(runID) AND key = \(key)
            """)
        if changed == 0 { throw StoreError(.notFound, "run \(runID) has no job \"\(key)\"") }
    }

    func markExisting(_ key: String, of runID: Int64) throws {
        let changed = try session.execute("""
            UPDATE jobs SET state = 'done', error = NULL WHERE run_id = \(runID) AND key = \(key) AND state <> 'done'
            """)
        guard changed == 0 else { return }
        guard try session.scalar("SELECT 1 FROM jobs WHERE run_id = \(runID) AND key = \(key)", as: Int.self) != nil else {
            throw StoreError(.notFound, "run \(runID) has no job \"\(key)\"")
        }
    }

    func claim(_ runID: Int64, owner: String, limit: Int, lease: Duration) throws -> [JobRecord] {
        try session.rows("""
            UPDATE jobs j SET lease_owner = \(owner), lease_expires_at = extract(epoch FROM clock_timestamp()) + \(lease.totalSeconds)
            FROM (SELECT id FROM jobs
                  WHERE run_id = \(runID) AND state = 'pending'
                    AND (lease_expires_at IS NULL OR lease_expires_at < extract(epoch FROM clock_timestamp()))
                  ORDER BY id LIMIT \(max(0, limit)) FOR UPDATE SKIP LOCKED) c
            WHERE j.id = c.id
            RETURNING j.id, j.key, j.state, j.attempts, j.error
            """).map {
            JobRecord(id: try $0.value("id"), key: try $0.value("key"), state: JobState(rawValue: try $0.value("state")),
                      attempts: try $0.value("attempts"), error: try $0.value("error"))
        }.sorted { $0.id < $1.id }
    }

    func renew(_ runID: Int64, owner: String, lease: Duration) throws -> Int {
        try session.execute("""
            UPDATE jobs SET lease_expires_at = extract(epoch FROM clock_timestamp()) + \(lease.totalSeconds)
            WHERE run_id = \(runID) AND lease_owner = \(owner) AND state = 'pending'
            """)
    }

    func release(_ runID: Int64, owner: String) throws -> Int {
        try session.execute("""
            UPDATE jobs SET lease_owner = NULL, lease_expires_at = NULL
            WHERE run_id = \(runID) AND lease_owner = \(owner) AND state = 'pending'
            """)
    }

    func markFailed(_ key: String, of runID: Int64, error: String) throws {
        try markAttempt(key, of: runID, state: .failed, error: error)
    }

    func markRetry(_ key: String, of runID: Int64, error: String) throws {
        try markAttempt(key, of: runID, state: .pending, error: error)
    }

    private func markAttempt(_ key: String, of runID: Int64, state: JobState, error: String) throws {
        let changed = try session.execute("""
            UPDATE jobs SET state = \(state.rawValue), attempts = attempts + 1, error = \(error) WHERE run_id = \(runID) AND key = \(key)
            """)
        if changed == 0 { throw StoreError(.notFound, "run \(runID) has no job \"\(key)\"") }
    }
}
