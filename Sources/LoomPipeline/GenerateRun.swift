import Foundation
import LoomStore

/// `loom generate`: K synthetic images per prompt of one strategy, each stored as a blob with a
/// `synthetic_images` row recording its prompt, generator, seed and sampling settings.
///
/// A plan comes first: a `runs` row and one `jobs` row per image to make (key `prompt:seed`).
/// Jobs then run in batches; each batch's bytes are made durable before the rows that point at
/// them, and the jobs' states commit with those rows. A killed run is found again by its config
/// (same dataset, strategy, generator and settings, still `running`) and resumes with the jobs
/// not done. A failing job is tried `maxAttempts` times, then recorded as failed with its error;
/// the other jobs go on. Images that already exist are skipped, so re-running makes nothing new.
public enum GenerateRun {
    public struct Options: Sendable {
        public var strategy: String
        public var perPrompt: Int
        public var seed: Int64
        public var steps: Int
        public var guidance: Double
        public var width: Int
        public var height: Int
        public var batchSize: Int
        public var maxAttempts: Int
        /// How long a claim on jobs holds on a fleet store without renewal (`--lease`): a
        /// killed worker's jobs go back to the queue this long after its last renewal.
        public var lease: Duration = .seconds(300)
        /// Stop after this many jobs, leaving the run `running` as a killed one would (tests).
        var jobLimit: Int?

        public init(strategy: String, perPrompt: Int, seed: Int64, steps: Int = 30, guidance: Double = 7.5,
                    width: Int = 512, height: Int = 512, batchSize: Int = 4, maxAttempts: Int = 3) {
            self.strategy = strategy
            self.perPrompt = perPrompt
            self.seed = seed
            self.steps = steps
            self.guidance = guidance
            self.width = width
            self.height = height
            self.batchSize = batchSize
            self.maxAttempts = maxAttempts
        }
    }

    public struct Failure: Codable, Sendable, Hashable {
        public var promptID: Int64
        public var seed: Int64
        public var attempts: Int
        public var error: String

        enum CodingKeys: String, CodingKey {
            case seed, attempts, error
            case promptID = "prompt_id"
        }
    }

    public struct Summary: Codable, Sendable {
        public var runID: Int64
        /// True when this call continued a run that had been interrupted.
        public var resumed: Bool
        public var generator: String
        public var planned: Int
        public var generated: Int
        /// Images that already existed.
        public var skipped: Int
        public var failed: [Failure]
        public var seconds: Double
        /// What each worker did (one entry for a one-worker run).
        public var workers: [WorkerReport]? = nil

        enum CodingKeys: String, CodingKey {
            case resumed, generator, planned, generated, skipped, failed, seconds, workers
            case runID = "run_id"
        }
    }

    /// The seed of image `index` of a prompt: a fixed function of the run's seed, the prompt id
    /// and the index, kept below 2^32 so any backend (numpy, torch) accepts it.
    public static func imageSeed(base: Int64, promptID: Int64, index: Int) -> Int64 {
        let h = mix(mix(mix(UInt64(bitPattern: base)) ^ UInt64(bitPattern: promptID)) ^ UInt64(index))
        return Int64(h & 0xFFFF_FFFF)
    }

    struct Job: Sendable {
        /// The job's key in the run's plan, `prompt:seed`.
        var key: String
        var request: GenerationRequest
        var index: Int
        var attempts = 0
    }

    /// What the plan found: which generator row the images go under and the jobs still to do.
    struct Plan {
        var generatorID: Int64
        var jobs: [Job]
    }

    public static func run(writer: StoreWriter, dataset: String, generator: any Generator, options: Options,
                           progress: ((_ done: Int, _ total: Int) -> Void)? = nil) throws -> Summary {
        try run(writer: writer, dataset: dataset, generators: WorkerSet(generator), options: options, progress: progress)
    }

    /// `generators`: one per worker, all with the same identity (``Backends/generators(_:python:fanout:)``
    /// checks that); batches go to whichever is free and are committed here, one at a time, as they come
    /// back. `workerProgress` gets each worker's items and rate after every commit (restarts only in the summary).
    public static func run(writer: StoreWriter, dataset: String, generators: WorkerSet<any Generator>, options: Options,
                           progress: ((_ done: Int, _ total: Int) -> Void)? = nil,
                           workerProgress: (([WorkerReport]) -> Void)? = nil) throws -> Summary {
        let start = ContinuousClock.now
        let generator = generators.first
        try check(options, against: generators)
        var summary = Summary(runID: 0, resumed: false, generator: generator.name, planned: 0, generated: 0, skipped: 0,
                              failed: [], seconds: 0)
        let plan = try self.plan(writer: writer, dataset: dataset, generator: generator, options: options, summary: &summary)
        let renewer = writer.renewingLeases(runID: summary.runID, lease: options.lease)
        defer { renewer?.stop() }
        let interrupted = try executeClaimed(plan: plan, writer: writer, generators: generators, options: options,
                                             summary: &summary, progress: progress, workerProgress: workerProgress)
        renewer?.stop()
        summary.seconds = (ContinuousClock.now - start) / .seconds(1)
        if !interrupted { try report(summary, writer: writer) }
        return summary
    }

    /// Claims the run's pending jobs a round at a time (``JobClaims``) and runs them, until none
    /// is left; on a fleet store other workers claim from the same run. Returns true when
    /// `jobLimit` stopped it.
    static func executeClaimed(plan: Plan, writer: StoreWriter, generators: WorkerSet<any Generator>, options: Options,
                               summary: inout Summary, progress: ((_ done: Int, _ total: Int) -> Void)?,
                               workerProgress: (([WorkerReport]) -> Void)?) throws -> Bool {
        let byKey = Dictionary(plan.jobs.map { ($0.key, $0) }, uniquingKeysWith: { first, _ in first })
        let roundSize = max(1, generators.backends.count * options.batchSize * 4)
        var left = options.jobLimit.map { max(0, $0) }
        var done = 0
        var items = Array(repeating: 0, count: generators.backends.count)
        var busy = Array(repeating: 0.0, count: generators.backends.count)
        defer {
            summary.workers = WorkerReport.list(devices: generators.devices, items: items, busy: busy,
                                                restarts: generators.backends.map(restartCount))
        }
        while true {
            let want = min(roundSize, left ?? roundSize)
            if want == 0 { return true }
            let claimed = try JobClaims.nextRound(of: summary.runID, writer: writer, limit: want, lease: options.lease)
            if claimed.isEmpty { return false }
            let queue = claimed.compactMap { byKey[$0.key] }
            let stale = claimed.filter { byKey[$0.key] == nil }
            if !stale.isEmpty {
                // Jobs an earlier plan of this run made for prompts that are gone (`loom prompts`
                // ran again): nobody can make them, and left pending they would be claimed
                // every round (or, on a fleet store, waited for forever).
                try writer.transaction { tx in
                    for job in stale {
                        try tx.jobs.markFailed(job.key, of: summary.runID, error: "its prompt is no longer among the strategy's prompts")
                    }
                }
                if queue.isEmpty { continue }
            }
            left = left.map { $0 - queue.count }
            let before = done
            let (roundItems, roundBusy) = try execute(
                queue, plan: plan, writer: writer, generators: generators, options: options, summary: &summary,
                progress: { finished, _ in
                    done = before + finished
                    progress?(done, max(plan.jobs.count, done))
                }, workerProgress: workerProgress)
            for worker in items.indices where worker < roundItems.count {
                items[worker] += roundItems[worker]
                busy[worker] += roundBusy[worker]
            }
        }
    }

    /// Refuses options no generator could honour, or that one of these cannot, before anything is planned.
    static func check(_ options: Options, against generators: WorkerSet<any Generator>) throws {
        for other in generators.backends.dropFirst() { try checkSize(options, against: other) }
        guard options.perPrompt > 0 else { throw PipelineError(.invalidInput, "--per-prompt must be at least 1") }
        guard options.width > 0, options.height > 0 else { throw PipelineError(.invalidInput, "image size must be positive") }
        guard options.steps > 0 else { throw PipelineError(.invalidInput, "--steps must be at least 1") }
        try checkSize(options, against: generators.first)
    }

    /// The run's config as the ledger stores it: a run with the same config, still `running`, is
    /// the one a re-run resumes.
    static func config(_ options: Options, generator: any Generator, generatorParams: String) throws -> String {
        try CanonicalJSON.text([
            "strategy": options.strategy, "generator": generator.name, "generator_version": generator.version,
            "generator_params": generatorParams, "backend": generator.backend, "per_prompt": "\(options.perPrompt)",
            "seed": "\(options.seed)", "steps": "\(options.steps)", "guidance": "\(options.guidance)",
            "width": "\(options.width)", "height": "\(options.height)",
        ])
    }

    /// The plan, in one transaction: the run (begun, or the interrupted one resumed), a job per
    /// image to make, and the jobs whose image already exists marked done.
    static func plan(writer: StoreWriter, dataset: String, generator: any Generator, options: Options,
                     summary: inout Summary) throws -> Plan {
        let generatorParams = try CanonicalJSON.text(generator.params)
        let config = try config(options, generator: generator, generatorParams: generatorParams)
        return try writer.transaction { tx in
            let datasetID = try tx.datasets.pipelineDatasetID(dataset)
            let prompts = try tx.prompts.prompts(of: datasetID, strategy: options.strategy)
            guard !prompts.isEmpty else {
                throw PipelineError(.notFound, "dataset \"\(dataset)\" has no prompts of strategy \"\(options.strategy)\": run `loom prompts --strategy \(options.strategy)` first")
            }
            try tx.runs.serializePlanning(datasetID: datasetID)
            let generatorID = try tx.synthetic.ensureGenerator(name: generator.name, version: generator.version,
                                                               params: generatorParams, backend: generator.backend)
            let interrupted = RunFilter(stage: .generate, status: .running, datasetID: datasetID, config: config)
            if let run = try tx.runs.runs(interrupted, offset: 0, limit: 1).first {
                try tx.runs.resume(id: run.id, parentID: nil)
                summary.runID = run.id
                summary.resumed = true
            } else {
                summary.runID = try tx.runs.begin(stage: .generate, datasetID: datasetID, parentID: nil, config: config)
            }
            var wanted: [Job] = []
            var keys = Set<String>()
            for prompt in prompts {
                for index in 0..<options.perPrompt {
                    let seed = imageSeed(base: options.seed, promptID: prompt.id, index: index)
                    let key = "\(prompt.id):\(seed)"
                    guard keys.insert(key).inserted else { continue }  // a seed collision within a prompt
                    let request = GenerationRequest(promptID: prompt.id, prompt: prompt.row.text, seed: seed, steps: options.steps,
                                                    guidance: options.guidance, width: options.width, height: options.height)
                    wanted.append(Job(key: key, request: request, index: index))
                }
            }
            summary.planned = wanted.count
            try tx.jobs.plan(wanted.map(\.key), for: summary.runID)
            var jobs: [Job] = []
            for job in wanted {
                if try tx.synthetic.contains(key(of: job.request, generatorID: generatorID)) {
                    try tx.jobs.markExisting(job.key, of: summary.runID)
                    summary.skipped += 1
                } else {
                    jobs.append(job)
                }
            }
            return Plan(generatorID: generatorID, jobs: jobs)
        }
    }

    static func key(of request: GenerationRequest, generatorID: Int64) -> SyntheticKey {
        SyntheticKey(promptID: request.promptID, generatorID: generatorID, seed: request.seed, steps: request.steps,
                     guidance: request.guidance, width: request.width, height: request.height)
    }

    /// Runs `queue` on the workers, recording each batch as it comes back; returns each worker's
    /// items and busy seconds.
    static func execute(_ queue: [Job], plan: Plan, writer: StoreWriter, generators: WorkerSet<any Generator>, options: Options,
                        summary: inout Summary, progress: ((_ done: Int, _ total: Int) -> Void)?,
                        workerProgress: (([WorkerReport]) -> Void)?) throws -> (items: [Int], busy: [Double]) {
        let total = queue.count
        var finished = 0
        let handed = generators.backends.map { Handed(value: $0) }
        let pool = BatchPool<Job, [Result<GeneratedImage, any Error>]>(items: queue, batchSize: options.batchSize,
                                                                       workers: handed.count) { worker, batch in
            handed[worker].value.generate(batch.map(\.request))
        }
        let (items, busy) = try pool.run(commit: { _, batch, results in
            guard results.count == batch.count else {
                throw PipelineError(.internal, "generator \(generators.first.name) returned \(results.count) results for \(batch.count) requests")
            }
            let retry = try record(zip(batch, results), plan: plan, writer: writer, options: options, summary: &summary)
            finished += batch.count - retry.count
            progress?(finished, total)
            return retry
        }, progress: { items, busy in
            workerProgress?(WorkerReport.list(devices: generators.devices, items: items, busy: busy,
                                              restarts: Array(repeating: 0, count: items.count)))
        })
        return (items, busy)
    }

    /// Records one batch's answers: each new image's bytes are staged first, then its row, the
    /// jobs' states and the failures commit together. Returns the failed jobs to try again.
    static func record(_ answers: some Sequence<(Job, Result<GeneratedImage, any Error>)>, plan: Plan, writer: StoreWriter,
                       options: Options, summary: inout Summary) throws -> [Job] {
        var made: [(job: Job, image: GeneratedImage, digest: Digest)] = []
        var failures: [(job: Job, error: String)] = []
        for (job, result) in answers {
            switch result {
            case .success(let image): made.append((job, image, Digest.sha256(image.bytes)))
            case .failure(let error): failures.append((job, "\(error)"))
            }
        }
        let committed = try writer.committedBlobIDs(made.map(\.digest))
        for item in made where committed[item.digest] == nil {
            try item.image.bytes.withUnsafeBytes { _ = try writer.stage($0, digest: item.digest, mediaType: item.image.mediaType) }
        }
        let maxAttempts = max(1, options.maxAttempts)
        var retry: [Job] = []
        try writer.transaction { tx in
            for item in made {
                guard let blobID = tx.newBlobIDs[item.digest] ?? committed[item.digest] else {
                    throw PipelineError(.internal, "no blob id for \(item.digest.hex)")
                }
                let request = item.job.request
                let params = try CanonicalJSON.text(["base_seed": "\(options.seed)", "index": "\(item.job.index)"])
                let row = SyntheticRow(blobID: blobID, promptID: request.promptID, generatorID: plan.generatorID, seed: request.seed,
                                       steps: request.steps, guidance: request.guidance, width: request.width, height: request.height,
                                       params: params, seconds: item.image.seconds)
                if try tx.synthetic.putSynthetic(row) { summary.generated += 1 } else { summary.skipped += 1 }
                try tx.jobs.markDone(item.job.key, of: summary.runID)
            }
            for (job, error) in failures {
                var job = job
                job.attempts += 1
                if job.attempts >= maxAttempts {
                    try tx.jobs.markFailed(job.key, of: summary.runID, error: error)
                    summary.failed.append(Failure(promptID: job.request.promptID, seed: job.request.seed, attempts: job.attempts, error: error))
                } else {
                    try tx.jobs.markRetry(job.key, of: summary.runID, error: error)
                    retry.append(job)
                }
            }
        }
        return retry
    }

    /// Closes the run in the ledger with the summary: `finished`, or `failed` when jobs used up their attempts.
    /// Closes the run in the ledger with the summary: `finished`, or `failed` when jobs used up
    /// their attempts (on a fleet store, whichever worker gets there first).
    static func report(_ summary: Summary, writer: StoreWriter) throws {
        try JobClaims.close(summary.runID, summary: try CanonicalJSON.text(summary), failed: !summary.failed.isEmpty, writer: writer)
    }

    /// Refuses a size the generator cannot make before a job is planned, rather than failing
    /// every job of the run on it.
    static func checkSize(_ options: Options, against generator: any Generator) throws {
        let multiple = generator.constraints.sizeMultiple
        guard multiple > 1, options.width % multiple != 0 || options.height % multiple != 0 else { return }
        func nearest(_ value: Int) -> Int { max(multiple, (value + multiple / 2) / multiple * multiple) }
        throw PipelineError(.invalidInput, "--size \(options.width)x\(options.height): generator \(generator.name) makes only sizes whose width and height are multiples of \(multiple) (constraints.size_multiple in its handshake); e.g. --size \(nearest(options.width))x\(nearest(options.height))")
    }
}
