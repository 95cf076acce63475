import Foundation
import LoomLoader
import LoomStore

/// The Swift trainer's state across the epochs of one run: the network, its optimizer, the
/// learning-rate schedule and the step the run has reached.
struct CPUTrainer {
    let plan: TrainPlan
    let options: TrainRun.Options
    let network: Network
    let optimizer: SGD
    let schedule: LearningRateSchedule
    let sampler: SamplerConfig
    private(set) var step = 0
    private var input: [Float]

    /// What one epoch of training measured.
    struct EpochResult {
        var images: Int
        var lossSum: Double
        var correct: Int
        var learningRate: Float
    }

    init(plan: TrainPlan, options: TrainRun.Options) throws {
        let config = plan.config
        self.plan = plan
        self.options = options
        network = try Network(ModelSpec(name: config.model, classes: plan.trainTable.classNames.count, inputSize: config.size),
                              seed: UInt64(bitPattern: config.seed))
        optimizer = SGD(parameters: network.parameters, momentum: Float(config.momentum),
                        weightDecay: Float(config.weightDecay), nesterov: config.nesterov)
        BLAS.setThreads(options.threads)
        let stepsPerEpoch = plan.trainTable.count / config.batch  // the last partial batch is dropped
        schedule = LearningRateSchedule(
            baseRate: Float(config.learningRate), warmupSteps: Int((config.warmupEpochs * Double(stepsPerEpoch)).rounded()),
            totalSteps: stepsPerEpoch * config.epochs)
        sampler = SamplerConfig(seed: UInt64(bitPattern: config.seed))
        input = [Float](repeating: 0, count: config.batch * 3 * config.size * config.size)
    }

    /// Continues from the run's newest checkpoint; the epoch to start at (0 without one).
    mutating func restore(runID: Int64, store: Store) throws -> Int {
        guard let checkpoint = try TrainCheckpoint.latest(runID: runID, store: store) else { return 0 }
        guard checkpoint.identity == plan.identity else {
            throw TrainError(.conflict, "run \(runID)'s checkpoint was made with another config; start a new run without --resume")
        }
        try network.load(checkpoint.model)
        try optimizer.load(checkpoint.optimizer)
        step = checkpoint.step
        return checkpoint.epoch
    }

    /// One pass over the augmented training samples of `epoch` (0-based).
    mutating func train(epoch: Int, store: Store, onStep: TrainRun.StepProgress?) throws -> EpochResult {
        let config = plan.config
        let loader = try Loader(store: store, table: plan.trainTable, spec: plan.spec, config: sampler, epoch: epoch,
                                options: .init(batchSize: config.batch, workers: options.workers, dropLast: true))
        var result = EpochResult(images: 0, lossSum: 0, correct: 0, learningRate: 0)
        let classes = network.spec.classes
        while let view = try loader.next() {
            result.learningRate = schedule.rate(atStep: step)
            input.withUnsafeMutableBufferPointer { view.normalizedCHW(size: config.size, into: $0) }
            let logits = input.withUnsafeBufferPointer {
                network.forward(UnsafeBufferPointer(rebasing: $0[..<(view.count * 3 * config.size * config.size)]),
                                batch: view.count, training: true)
            }
            let loss = Loss.softmaxCrossEntropy(logits: logits, labels: Array(view.labels), classes: classes,
                                                smoothing: Float(config.labelSmoothing))
            guard loss.loss.isFinite else {
                throw TrainError(.invalidInput, "the loss diverged (\(loss.loss)) at epoch \(epoch + 1), step \(step); lower --lr")
            }
            network.backward(loss.grad)
            optimizer.step(learningRate: result.learningRate)
            result.lossSum += loss.loss * Double(view.count)
            result.correct += loss.correct
            result.images += view.count
            step += 1
            onStep?(epoch + 1, view.index + 1, loader.batchCount)
        }
        return result
    }

    func evaluate(store: Store) throws -> Evaluation? {
        try plan.evalTable.map {
            try Evaluation.run(network, store: store, table: $0, size: plan.config.size, batch: plan.config.batch,
                               workers: options.workers)
        }
    }

    /// The state after `epochs` epochs, with the loader cursor of the next.
    func checkpoint(after epochs: Int) -> TrainCheckpoint {
        let cursor = ResumeToken(seed: sampler.seed, epoch: epochs, position: 0, rank: 0, world: 1).description
        return TrainCheckpoint(epoch: epochs, step: step, cursor: cursor, identity: plan.identity,
                               model: network.stateTensors(), optimizer: optimizer.stateTensors(), modelName: plan.config.model)
    }
}
