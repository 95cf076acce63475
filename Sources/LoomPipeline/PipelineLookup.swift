import LoomStore

extension DatasetReading {
    /// The id of the dataset a stage works on, or `not-found` saying there is none of that name.
    func pipelineDatasetID(_ name: String) throws -> Int64 {
        guard let dataset = try dataset(named: name) else { throw PipelineError(.notFound, "no dataset named \"\(name)\"") }
        return dataset.id
    }

    /// The id of a split of that dataset (nil for all splits), or `not-found` naming both.
    func pipelineSplitID(_ name: String?, of datasetID: Int64, dataset: String) throws -> Int64? {
        guard let name else { return nil }
        guard let split = try split(named: name, of: datasetID) else {
            throw PipelineError(.notFound, "dataset \"\(dataset)\" has no split \"\(name)\"")
        }
        return split.id
    }
}
