import LoomStore

/// The samples of a selection, as flat index arrays: everything the loader needs per sample
/// without touching the catalog again (about 90 bytes a sample: 1.3M ImageNet images ~ 120 MB).
public struct SampleTable: Sendable {
    public var locations: [BlobLocation] = []
    /// The catalog id of each sample's blob (what a training run records as its inputs).
    public var blobIDs: [Int64] = []
    public var labels: [Int32] = []
    /// The pixel-cache image for each sample at the loader's short side, when built.
    public var cached = SparseColumn<CachedPixels>()
    /// Per component of the selection: the range of samples it contributed, and its weight.
    public var components: [(range: Range<Int>, weight: Double)] = []
    public var classNames: [String] = []

    public var count: Int { locations.count }

    public struct CachedPixels: Sendable, Hashable {
        public var location: BlobLocation
        public var width: Int
        public var height: Int
    }

    /// Loads the selection in catalog order (real: split, path; synthetic: generation order),
    /// which is stable across runs.
    /// - Parameter cacheShortSide: look up pixel-cache entries at this short side.
    public static func load(_ store: Store, selection: Selection, cacheShortSide: Int? = nil) throws -> SampleTable {
        var table = SampleTable()
        try store.read { catalog in
            for component in selection.components {
                guard let dataset = try catalog.datasets.dataset(named: component.dataset) else {
                    throw LoaderError("no dataset named \"\(component.dataset)\"", code: .notFound)
                }
                if table.classNames.isEmpty {
                    table.classNames = try catalog.datasets.classes(of: dataset.id).map(\.wnid)
                }
                let classFilter = try component.classes.map { names in
                    try Set(names.map { name in
                        guard let id = try catalog.datasets.classID(matching: name, in: dataset.id) else {
                            throw LoaderError("dataset \"\(component.dataset)\" has no class \"\(name)\"", code: .notFound)
                        }
                        return id
                    })
                }
                let start = table.count
                let source: SampleSource
                switch component.source {
                case .real(let split):
                    guard let split = try catalog.datasets.split(named: split, of: dataset.id) else {
                        throw LoaderError("dataset \"\(component.dataset)\" has no split \"\(split)\"", code: .notFound)
                    }
                    source = .real(splitID: split.id)
                case .synthetic(let strategy):
                    source = .synthetic(datasetID: dataset.id, strategy: strategy)
                }
                try catalog.samples.forEachSample(source, cacheShortSide: cacheShortSide) { sample in
                    if let filter = classFilter, !filter.contains(sample.classID) { return }
                    table.append(sample)
                }
                guard table.count > start else {
                    // Nothing to load is a missing thing, like a missing dataset: the service answers 404.
                    switch component.source {
                    case .real:
                        throw LoaderError("selection \(component.name) has no images", code: .notFound)
                    case .synthetic(let strategy):
                        throw LoaderError("""
                            selection \(component.name) has no images: generate them first \
                            (loom prompts --dataset \(component.dataset) --strategy \(strategy), then loom generate)
                            """, code: .notFound)
                    }
                }
                table.components.append((start..<table.count, component.weight))
            }
        }
        return table
    }

    private mutating func append(_ sample: SampleRecord) {
        blobIDs.append(sample.blobID)
        locations.append(sample.location)
        labels.append(Int32(sample.label))
        cached.append(sample.cached.map { CachedPixels(location: $0.location, width: $0.width, height: $0.height) })
    }

    /// How many samples have a pixel-cache image.
    public var cachedCount: Int { cached.presentCount }
}
