import LoomStore

/// What the tests check in the catalog after a stage ran, read through the repositories.
extension Store {
    /// Every caption with its image path and captioner, in id order.
    func captionDetails() throws -> [CaptionDetail] {
        try read { try $0.captions.captionDetails(of: nil) }
    }

    /// A synthetic image with what `v_lineage` says of it and its blob's media type.
    struct SyntheticFact {
        var record: SyntheticRecord
        var lineage: LineageRecord
        var mediaType: String
    }

    /// Every synthetic image in id order.
    func syntheticFacts() throws -> [SyntheticFact] {
        try read { snapshot in
            var lineage: [Int64: LineageRecord] = [:]
            try snapshot.lineage.forEachSynthetic(LineageFilter()) { lineage[$0.syntheticID] = $0 }
            return try snapshot.synthetic.syntheticImages().map { record in
                guard let blob = try snapshot.blobs.blob(record.digest), let line = lineage[record.id] else {
                    throw StoreError(.corrupt, "synthetic image \(record.id) has no blob or lineage")
                }
                return SyntheticFact(record: record, lineage: line, mediaType: blob.mediaType)
            }
        }
    }

    func syntheticCount() throws -> Int { try read { try $0.synthetic.syntheticImages().count } }

    /// The lineage rows of every synthetic image, in generation order.
    func lineageRecords() throws -> [LineageRecord] {
        try read { snapshot in
            var records: [LineageRecord] = []
            try snapshot.lineage.forEachSynthetic(LineageFilter()) { records.append($0) }
            return records
        }
    }

    /// The statuses of the `generate` runs, oldest first.
    func generateRunStatuses() throws -> [String] {
        try read { try $0.runs.runs(RunFilter(stage: .generate), offset: 0, limit: 1_000).reversed().map(\.status.rawValue) }
    }

    func runStatus(_ id: Int64) throws -> String? { try read { try $0.runs.run(id: id)?.status.rawValue } }

    /// Every job of a run, whatever its state.
    func jobs(ofRun id: Int64) throws -> [JobRecord] {
        try read { snapshot in
            try [JobState.pending, .done, .failed].flatMap { try snapshot.jobs.jobs(of: id, state: $0) }
        }
    }

    /// Every prompt of the dataset, in id order.
    func prompts(of dataset: String) throws -> [PromptRecord] {
        try read { snapshot in
            try snapshot.prompts.prompts(of: try snapshot.datasets.requireDataset(named: dataset).id, strategy: nil)
        }
    }
}
