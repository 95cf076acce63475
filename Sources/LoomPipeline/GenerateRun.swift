import Foundation
import GRDB
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

    struct Job {
        var id: Int64
        var request: GenerationRequest
        var index: Int
        var attempts = 0
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
        for other in generators.backends.dropFirst() { try checkSize(options, against: other) }
        guard options.perPrompt > 0 else { throw PipelineError("--per-prompt must be at least 1") }
        guard options.width > 0, options.height > 0 else { throw PipelineError("image size must be positive") }
        guard options.steps > 0 else { throw PipelineError("--steps must be at least 1") }
        try checkSize(options, against: generator)
        let maxAttempts = max(1, options.maxAttempts)
        var summary = Summary(runID: 0, resumed: false, generator: generator.name, planned: 0, generated: 0, skipped: 0,
                              failed: [], seconds: 0)
        let generatorParams = try Captioners.canonicalJSON(generator.params)
        let config: [String: String] = [
            "strategy": options.strategy, "generator": generator.name, "generator_version": generator.version,
            "generator_params": generatorParams, "backend": generator.backend, "per_prompt": "\(options.perPrompt)",
            "seed": "\(options.seed)", "steps": "\(options.steps)", "guidance": "\(options.guidance)",
            "width": "\(options.width)", "height": "\(options.height)",
        ]
        let configJSON = try Captioners.canonicalJSON(config)

        // The plan: run row, job rows, and which jobs still need an image.
        let (generatorID, jobs) = try writer.commit { db, _ -> (Int64, [Job]) in
            guard let datasetID = try DatasetCatalog.datasetID(db, name: dataset) else {
                throw PipelineError("no dataset named \"\(dataset)\"")
            }
            let prompts = try Row.fetchAll(db, sql: "SELECT id, text FROM prompts WHERE dataset_id = ? AND strategy = ? ORDER BY id",
                                           arguments: [datasetID, options.strategy])
            guard !prompts.isEmpty else {
                throw PipelineError("dataset \"\(dataset)\" has no prompts of strategy \"\(options.strategy)\": run `loom prompts --strategy \(options.strategy)` first")
            }
            let generatorID = try ensureGenerator(db, generator, params: generatorParams)
            if let runID = try Int64.fetchOne(db, sql: """
                SELECT id FROM runs WHERE stage = 'generate' AND dataset_id = ? AND config = ? AND status = 'running'
                ORDER BY id DESC LIMIT 1
                """, arguments: [datasetID, configJSON]) {
                summary.runID = runID
                summary.resumed = true
            } else {
                try db.execute(sql: "INSERT INTO runs (stage, dataset_id, config, status) VALUES ('generate', ?, ?, 'running')",
                               arguments: [datasetID, configJSON])
                summary.runID = db.lastInsertedRowID
            }
            let insertJob = try db.cachedStatement(sql: """
                INSERT INTO jobs (run_id, key, state) VALUES (?, ?, 'pending') ON CONFLICT (run_id, key) DO NOTHING
                """)
            let jobID = try db.cachedStatement(sql: "SELECT id FROM jobs WHERE run_id = ? AND key = ?")
            let exists = try db.cachedStatement(sql: """
                SELECT 1 FROM synthetic_images WHERE prompt_id = ? AND generator_id = ? AND seed = ? AND steps = ?
                AND guidance = ? AND width = ? AND height = ?
                """)
            let markDone = try db.cachedStatement(sql: "UPDATE jobs SET state = 'done', error = NULL WHERE id = ? AND state != 'done'")
            var jobs: [Job] = []
            var keys = Set<String>()
            for prompt in prompts {
                let promptID: Int64 = prompt["id"]
                for index in 0..<options.perPrompt {
                    let seed = imageSeed(base: options.seed, promptID: promptID, index: index)
                    let key = "\(promptID):\(seed)"
                    guard keys.insert(key).inserted else { continue }  // a seed collision within a prompt
                    summary.planned += 1
                    try insertJob.execute(arguments: [summary.runID, key])
                    guard let id = try Int64.fetchOne(jobID, arguments: [summary.runID, key]) else {
                        throw PipelineError("job \(key) of run \(summary.runID) vanished")
                    }
                    if try Bool.fetchOne(exists, arguments: [promptID, generatorID, seed, options.steps, options.guidance,
                                                             options.width, options.height]) == true {
                        try markDone.execute(arguments: [id])
                        summary.skipped += 1
                        continue
                    }
                    let request = GenerationRequest(promptID: promptID, prompt: prompt["text"], seed: seed, steps: options.steps,
                                                    guidance: options.guidance, width: options.width, height: options.height)
                    jobs.append(Job(id: id, request: request, index: index))
                }
            }
            return (generatorID, jobs)
        }

        var queue = jobs
        var interrupted = false
        if let limit = options.jobLimit, limit < queue.count {
            queue = Array(queue.prefix(max(0, limit)))
            interrupted = true
        }
        let total = queue.count
        var finished = 0
        let handed = generators.backends.map { Handed(value: $0) }
        let pool = BatchPool<Job, [Result<GeneratedImage, any Error>]>(items: queue, batchSize: options.batchSize,
                                                                       workers: handed.count) { worker, batch in
            handed[worker].value.generate(batch.map(\.request))
        }
        let (items, busy) = try pool.run(commit: { _, batch, results in
            guard results.count == batch.count else {
                throw PipelineError("generator \(generator.name) returned \(results.count) results for \(batch.count) requests")
            }
            // Bytes first: stage every new image, then commit rows and job states together.
            var made: [(job: Job, image: GeneratedImage, digest: Digest)] = []
            var failures: [(job: Job, error: String)] = []
            for (job, result) in zip(batch, results) {
                switch result {
                case .success(let image):
                    made.append((job, image, Digest.sha256(image.bytes)))
                case .failure(let error):
                    failures.append((job, "\(error)"))
                }
            }
            let committed = try writer.committedBlobIDs(made.map(\.digest))
            for item in made where committed[item.digest] == nil {
                try item.image.bytes.withUnsafeBytes { _ = try writer.stage($0, digest: item.digest, mediaType: item.image.mediaType) }
            }
            var retry: [Job] = []
            try writer.commit { db, ids in
                let insert = try db.cachedStatement(sql: """
                    INSERT INTO synthetic_images (blob_id, prompt_id, generator_id, seed, steps, guidance, width, height, params, seconds)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                    ON CONFLICT DO NOTHING
                    """)
                let done = try db.cachedStatement(sql: "UPDATE jobs SET state = 'done', attempts = attempts + 1, error = NULL WHERE id = ?")
                let failed = try db.cachedStatement(sql: "UPDATE jobs SET state = ?, attempts = attempts + 1, error = ? WHERE id = ?")
                for item in made {
                    guard let blobID = ids[item.digest] ?? committed[item.digest] else {
                        throw PipelineError("no blob id for \(item.digest.hex)")
                    }
                    let request = item.job.request
                    let params = try Captioners.canonicalJSON(["base_seed": "\(options.seed)", "index": "\(item.job.index)"])
                    try insert.execute(arguments: [blobID, request.promptID, generatorID, request.seed, request.steps, request.guidance,
                                                   request.width, request.height, params, item.image.seconds])
                    if db.changesCount > 0 { summary.generated += 1 } else { summary.skipped += 1 }
                    try done.execute(arguments: [item.job.id])
                }
                for (job, error) in failures {
                    var job = job
                    job.attempts += 1
                    let final = job.attempts >= maxAttempts
                    try failed.execute(arguments: [final ? "failed" : "pending", error, job.id])
                    if final {
                        summary.failed.append(Failure(promptID: job.request.promptID, seed: job.request.seed, attempts: job.attempts, error: error))
                    } else {
                        retry.append(job)
                    }
                }
            }
            finished += made.count + failures.count - retry.count
            progress?(finished, total)
            return retry
        }, progress: { items, busy in
            workerProgress?(WorkerReport.list(devices: generators.devices, items: items, busy: busy,
                                              restarts: Array(repeating: 0, count: items.count)))
        })
        summary.workers = WorkerReport.list(devices: generators.devices, items: items, busy: busy,
                                            restarts: generators.backends.map(restartCount))

        summary.seconds = (ContinuousClock.now - start) / .seconds(1)
        if !interrupted {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
            let json = String(decoding: try encoder.encode(summary), as: UTF8.self)
            try writer.commit { db, _ in
                try db.execute(sql: """
                    UPDATE runs SET status = ?, summary = ?, finished_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now') WHERE id = ?
                    """, arguments: [summary.failed.isEmpty ? "finished" : "failed", json, summary.runID])
            }
        }
        return summary
    }

    /// Refuses a size the generator cannot make before a job is planned, rather than failing
    /// every job of the run on it.
    static func checkSize(_ options: Options, against generator: any Generator) throws {
        let multiple = generator.constraints.sizeMultiple
        guard multiple > 1, options.width % multiple != 0 || options.height % multiple != 0 else { return }
        func nearest(_ value: Int) -> Int { max(multiple, (value + multiple / 2) / multiple * multiple) }
        throw PipelineError("--size \(options.width)x\(options.height): generator \(generator.name) makes only sizes whose width and height are multiples of \(multiple) (constraints.size_multiple in its handshake); e.g. --size \(nearest(options.width))x\(nearest(options.height))")
    }

    static func ensureGenerator(_ db: Database, _ generator: any Generator, params: String) throws -> Int64 {
        if let id = try Int64.fetchOne(db, sql: "SELECT id FROM generators WHERE name = ? AND version = ? AND params = ?",
                                       arguments: [generator.name, generator.version, params]) {
            return id
        }
        try db.execute(sql: "INSERT INTO generators (name, version, params, backend) VALUES (?, ?, ?, ?)",
                       arguments: [generator.name, generator.version, params, generator.backend])
        return db.lastInsertedRowID
    }
}
