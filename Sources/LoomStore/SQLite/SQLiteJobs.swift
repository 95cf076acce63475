internal import GRDB

protocol SQLiteJobQueries: JobReading, SQLiteRepository {}

extension SQLiteJobQueries {
    func jobs(of runID: Int64, state: JobState) throws -> [JobRecord] {
        try Row.fetchAll(db, sql: "SELECT id, key, state, attempts, error FROM jobs WHERE run_id = ? AND state = ? ORDER BY id",
                         arguments: [runID, state.rawValue]).map {
            JobRecord(id: $0["id"], key: $0["key"], state: JobState(rawValue: $0["state"]), attempts: $0["attempts"], error: $0["error"])
        }
    }

    func counts(of runID: Int64) throws -> [JobState: Int] {
        var counts: [JobState: Int] = [:]
        for row in try Row.fetchAll(db, sql: "SELECT state, count(*) AS n FROM jobs WHERE run_id = ? GROUP BY state", arguments: [runID]) {
            counts[JobState(rawValue: row["state"])] = row["n"]
        }
        return counts
    }
}

struct SQLiteJobReader: SQLiteJobQueries {
    let db: Database
}

struct SQLiteJobWriter: SQLiteJobQueries, JobWriting {
    let db: Database

    func plan(_ keys: [String], for runID: Int64) throws {
        let insert = try db.cachedStatement(sql: "INSERT INTO jobs (run_id, key, state) VALUES (?, ?, 'pending') ON CONFLICT (run_id, key) DO NOTHING")
        for key in keys { try insert.execute(arguments: [runID, key]) }
    }

    func markDone(_ key: String, of runID: Int64) throws {
        try db.cachedStatement(sql: "UPDATE jobs SET state = 'done', attempts = attempts + 1, error = NULL WHERE run_id = ? AND key = ?")
            .execute(arguments: [runID, key])
        try requireJob(key, of: runID)
    }

    func markExisting(_ key: String, of runID: Int64) throws {
        try db.cachedStatement(sql: "UPDATE jobs SET state = 'done', error = NULL WHERE run_id = ? AND key = ? AND state != 'done'")
            .execute(arguments: [runID, key])
        guard db.changesCount == 0 else { return }
        guard try Bool.fetchOne(db.cachedStatement(sql: "SELECT 1 FROM jobs WHERE run_id = ? AND key = ?"), arguments: [runID, key]) == true else {
            throw StoreError(.notFound, "run \(runID) has no job \"\(key)\"")
        }
    }

    func claim(_ runID: Int64, owner: String, limit: Int, lease: Duration) throws -> [JobRecord] {
        try Row.fetchAll(db, sql: """
            UPDATE jobs SET lease_owner = ?, lease_expires_at = (julianday('now') - 2440587.5) * 86400.0 + ?
            WHERE id IN (SELECT id FROM jobs WHERE run_id = ? AND state = 'pending' ORDER BY id LIMIT ?)
            RETURNING id, key, state, attempts, error
            """, arguments: [owner, lease.totalSeconds, runID, max(0, limit)]).map {
            JobRecord(id: $0["id"], key: $0["key"], state: JobState(rawValue: $0["state"]), attempts: $0["attempts"], error: $0["error"])
        }.sorted { $0.id < $1.id }
    }

    func renew(_ runID: Int64, owner: String, lease: Duration) throws -> Int {
        try db.execute(sql: """
            UPDATE jobs SET lease_expires_at = (julianday('now') - 2440587.5) * 86400.0 + ? WHERE run_id = ? AND lease_owner = ? AND state = 'pending'
            """, arguments: [lease.totalSeconds, runID, owner])
        return db.changesCount
    }

    func release(_ runID: Int64, owner: String) throws -> Int {
        try db.execute(sql: """
            UPDATE jobs SET lease_owner = NULL, lease_expires_at = NULL WHERE run_id = ? AND lease_owner = ? AND state = 'pending'
            """, arguments: [runID, owner])
        return db.changesCount
    }

    func markFailed(_ key: String, of runID: Int64, error: String) throws {
        try markAttempt(key, of: runID, state: .failed, error: error)
    }

    func markRetry(_ key: String, of runID: Int64, error: String) throws {
        try markAttempt(key, of: runID, state: .pending, error: error)
    }

    private func markAttempt(_ key: String, of runID: Int64, state: JobState, error: String) throws {
        try db.cachedStatement(sql: "UPDATE jobs SET state = ?, attempts = attempts + 1, error = ? WHERE run_id = ? AND key = ?")
            .execute(arguments: [state.rawValue, error, runID, key])
        try requireJob(key, of: runID)
    }

    private func requireJob(_ key: String, of runID: Int64) throws {
        if db.changesCount == 0 { throw StoreError(.notFound, "run \(runID) has no job \"\(key)\"") }
    }
}
