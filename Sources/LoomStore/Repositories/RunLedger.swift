import Foundation

/// Where a run is in its one lifecycle, the same for every stage:
///
/// ```
/// begin -> running --finish--> finished
///            |  ^ progress
///            fail
///            v
///          failed --resume--> running
/// ```
/// A `running` run whose process died is resumed as it is. A `finished` run is final, except
/// that a stage which re-derives its whole result on every call (an experiment) may `reopen` it.
public struct RunStatus: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public let rawValue: String
    public init(rawValue: String) { self.rawValue = rawValue }
    public var description: String { rawValue }

    public static let running = RunStatus(rawValue: "running")
    public static let finished = RunStatus(rawValue: "finished")
    public static let failed = RunStatus(rawValue: "failed")
}

/// The stage a run belongs to. Open-ended: a new stage needs no schema change.
public struct RunStage: RawRepresentable, Hashable, Sendable, ExpressibleByStringLiteral, CustomStringConvertible {
    public let rawValue: String
    public init(rawValue: String) { self.rawValue = rawValue }
    public init(stringLiteral value: String) { rawValue = value }
    public var description: String { rawValue }

    public static let ingest: RunStage = "ingest"
    public static let caption: RunStage = "caption"
    public static let generate: RunStage = "generate"
    public static let cache: RunStage = "cache"
    public static let train: RunStage = "train"
    public static let experiment: RunStage = "experiment"
}

/// A run as the ledger holds it. `config` and `summary` are JSON text, stored byte for byte.
public struct RunRecord: Hashable, Sendable {
    public var id: Int64
    public var stage: RunStage
    public var datasetID: Int64?
    /// The dataset's name (nil once the dataset is deleted).
    public var dataset: String?
    public var status: RunStatus
    public var config: String
    public var summary: String?
    /// ISO 8601 UTC, as SQLite's `strftime('%Y-%m-%dT%H:%M:%fZ')` writes it.
    public var startedAt: String
    public var finishedAt: String?
    public var parentID: Int64?
}

/// Which runs to list; nil is any.
public struct RunFilter: Hashable, Sendable {
    public var stage: RunStage?
    public var status: RunStatus?
    public var datasetID: Int64?
    public var config: String?
    public init(stage: RunStage? = nil, status: RunStatus? = nil, datasetID: Int64? = nil, config: String? = nil) {
        self.stage = stage
        self.status = status
        self.datasetID = datasetID
        self.config = config
    }
}

/// The run ledger, read side.
public protocol RunReading {
    func run(id: Int64) throws -> RunRecord?
    /// The run, or `not-found`.
    func requireRun(id: Int64) throws -> RunRecord
    /// Runs matching `filter`, newest first.
    func runs(_ filter: RunFilter, offset: Int, limit: Int) throws -> [RunRecord]
    /// Ids of the runs whose parent is `id` (an experiment's train runs), oldest first.
    func children(of id: Int64) throws -> [Int64]
    func count() throws -> Int
}

/// The run ledger, write side: one lifecycle for every stage (see ``RunStatus``). A transition
/// the lifecycle does not allow is a `conflict`; an unknown id is `not-found`.
public protocol RunWriting: RunReading {
    /// Makes the planners of one dataset's runs take turns until this transaction ends, so that
    /// two `loom generate` processes started together on a fleet store find, and share, one
    /// run instead of beginning two. The embedded store has one writer: nothing to do there.
    func serializePlanning(datasetID: Int64) throws
    /// Records a new `running` run and returns its id.
    func begin(stage: RunStage, datasetID: Int64?, parentID: Int64?, config: String) throws -> Int64
    /// Makes a `running` or `failed` run `running` again (a killed or failed stage picks up where
    /// it stopped); `parentID`, when given, re-parents it.
    @discardableResult
    func resume(id: Int64, parentID: Int64?) throws -> RunRecord
    /// Replaces the summary of a `running` run (what it has done so far).
    func progress(id: Int64, summary: String) throws
    /// `running` -> `finished`, with its final summary and finish time.
    func finish(id: Int64, summary: String) throws
    /// `running` -> `failed` with its final summary and finish time: the stage ran to its end,
    /// but some of its work failed (`loom generate`'s jobs that used up their attempts). Unlike
    /// ``fail(id:message:)``, which records why a stage stopped, it keeps the summary.
    func finishFailed(id: Int64, summary: String) throws
    /// `running` -> `failed`; the summary becomes `{"error": message}`.
    func fail(id: Int64, message: String) throws
    /// `finished` -> `running` (its finish time cleared), for a stage that checks every step
    /// again and rewrites its summary: `loom experiment` run twice keeps one experiment row.
    @discardableResult
    func reopen(id: Int64) throws -> RunRecord
    /// Makes `parentID` the run's parent whatever its status: an experiment adopts the finished
    /// training it reuses.
    func adopt(id: Int64, parentID: Int64) throws
}
