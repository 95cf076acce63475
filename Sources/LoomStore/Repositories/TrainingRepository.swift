/// One finished epoch of a training run.
public struct EpochRecord: Hashable, Sendable {
    public var epoch: Int
    public var loss: Double
    public var trainTop1: Double
    public var evalTop1: Double?
    public var evalTop5: Double?
    public var imagesPerSecond: Double
    public var seconds: Double
    public init(epoch: Int, loss: Double, trainTop1: Double, evalTop1: Double?, evalTop5: Double?,
                imagesPerSecond: Double, seconds: Double) {
        self.epoch = epoch
        self.loss = loss
        self.trainTop1 = trainTop1
        self.evalTop1 = evalTop1
        self.evalTop5 = evalTop5
        self.imagesPerSecond = imagesPerSecond
        self.seconds = seconds
    }
}

/// Per-class result of a run's final evaluation, with the class it names when still there.
public struct EvalClassRecord: Hashable, Sendable {
    public var label: Int
    public var wnid: String?
    public var name: String?
    public var correct: Int
    public var total: Int
    public init(label: Int, wnid: String? = nil, name: String? = nil, correct: Int, total: Int) {
        self.label = label
        self.wnid = wnid
        self.name = name
        self.correct = correct
        self.total = total
    }
}

/// A checkpoint: the model, optimizer and loader cursor after an epoch.
public struct CheckpointRecord: Hashable, Sendable {
    public var epoch: Int
    public var digest: Digest
    public var cursor: String
    public var createdAt: String
}

public protocol TrainingReading {
    func epochs(of runID: Int64) throws -> [EpochRecord]
    /// Per-class results with the names of the run's dataset's classes.
    func evalClasses(of runID: Int64) throws -> [EvalClassRecord]
    /// Oldest epoch first.
    func checkpoints(of runID: Int64) throws -> [CheckpointRecord]
    /// The images (blob id, label) a run trained on, by blob id.
    func samples(of runID: Int64) throws -> [(blobID: Int64, label: Int)]
}

public protocol TrainingWriting: TrainingReading {
    /// Records (or replaces) an epoch's metrics.
    func recordEpoch(_ epoch: EpochRecord, of runID: Int64) throws
    func recordCheckpoint(of runID: Int64, epoch: Int, blobID: Int64, cursor: String) throws
    /// Drops all but the newest `keep` checkpoints of a run (at least one stays); their blobs
    /// are left for `loom gc`.
    func pruneCheckpoints(of runID: Int64, keep: Int) throws
    /// Replaces the run's per-class results with `classes`.
    func recordEvalClasses(_ classes: [EvalClassRecord], of runID: Int64) throws
    /// Which images (blob id, label) a run trained on; each once.
    func recordSamples(_ samples: [(blobID: Int64, label: Int)], of runID: Int64) throws
}
