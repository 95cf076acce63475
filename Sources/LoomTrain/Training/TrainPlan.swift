import LoomLoader
import LoomStore

/// What a training run works from, checked before anything is written, the same for both
/// trainers: the augmentation, the training and eval samples, and the run's identity (the config
/// plus the exact training samples, ``SampleSetIdentity``).
struct TrainPlan {
    let config: TrainConfig
    let spec: TransformSpec
    let trainTable: SampleTable
    let evalTable: SampleTable?
    let identity: String

    /// Loads the selections and checks they can train together; `config` is validated already.
    init(store: Store, config: TrainConfig) throws {
        self.config = config
        let spec = TransformSpec(size: config.size, augment: .train, scale: config.cropScale...1.0)
        self.spec = spec
        trainTable = try SampleTable.load(store, selection: Selection(parsing: config.train), cacheShortSide: spec.evalResize)
        evalTable = try config.eval.map { try SampleTable.load(store, selection: Selection(parsing: $0), cacheShortSide: spec.evalResize) }
        try TrainRecorder.checkLabelSpace(store: store, config: config)
        guard trainTable.count >= config.batch else {
            throw TrainError(.invalidInput,
                             "training selection \(config.train) has \(trainTable.count) images, fewer than one batch of \(config.batch)")
        }
        identity = try config.identity(samples: SampleSetIdentity(trainTable))
    }

    /// The run to train into (see ``TrainRecorder/beginRun(writer:identity:table:config:resume:parentRunID:)``).
    func beginRun(writer: StoreWriter, options: TrainRun.Options) throws -> (runID: Int64, resumed: Bool) {
        try TrainRecorder.beginRun(writer: writer, identity: identity, table: trainTable, config: config,
                                   resume: options.resume, parentRunID: options.parentRunID)
    }
}
