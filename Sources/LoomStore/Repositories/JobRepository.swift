/// Where a job of a run's plan is.
public struct JobState: RawRepresentable, Hashable, Sendable {
    public let rawValue: String
    public init(rawValue: String) { self.rawValue = rawValue }
    public static let pending = JobState(rawValue: "pending")
    public static let done = JobState(rawValue: "done")
    public static let failed = JobState(rawValue: "failed")
}

public struct JobRecord: Hashable, Sendable {
    public var id: Int64
    public var key: String
    public var state: JobState
    public var attempts: Int
    public var error: String?
}

/// A run's plan of jobs, so a killed stage resumes with the missing jobs only.
public protocol JobReading {
    /// Jobs of a run in one state, in plan order.
    func jobs(of runID: Int64, state: JobState) throws -> [JobRecord]
    /// How many jobs of a run are in each state.
    func counts(of runID: Int64) throws -> [JobState: Int]
}

public protocol JobWriting: JobReading {
    /// Adds the keys not yet planned, as `pending`.
    func plan(_ keys: [String], for runID: Int64) throws
    func markDone(_ key: String, of runID: Int64) throws
    /// Marks a job done without counting an attempt: what it would make was there already.
    /// A job that is done stays as it is.
    func markExisting(_ key: String, of runID: Int64) throws
    /// Marks a job failed with why, counting the attempt.
    func markFailed(_ key: String, of runID: Int64, error: String) throws
    /// Puts a job back to `pending` with why its attempt failed, counting the attempt (it is tried again).
    /// Its lease stays with its owner, who tries it again.
    func markRetry(_ key: String, of runID: Int64, error: String) throws
    /// Claims up to `limit` of the run's pending jobs for `owner` until `lease` from now on the
    /// catalog's clock, in plan order, and returns them. On PostgreSQL only jobs without a live
    /// lease are claimable, and concurrent claims skip each other's rows (`FOR UPDATE SKIP
    /// LOCKED`): each job goes to one worker. The embedded store has one writer, so there every
    /// pending job is claimable (a lease there can only be a dead writer's).
    func claim(_ runID: Int64, owner: String, limit: Int, lease: Duration) throws -> [JobRecord]
    /// Extends `owner`'s leases on the run's pending jobs to `lease` from now; returns how many.
    func renew(_ runID: Int64, owner: String, lease: Duration) throws -> Int
    /// Gives `owner`'s claims on the run's still-pending jobs back at once (a worker that stops
    /// early, on an error); returns how many.
    func release(_ runID: Int64, owner: String) throws -> Int
}

extension Duration {
    /// Whole and fractional seconds (a lease, a grace period).
    var totalSeconds: Double { Double(components.seconds) + Double(components.attoseconds) / 1e18 }
}
