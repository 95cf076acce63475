import LoomStore

/// The samples of a selection as fixed-size records (``SampleRows``): everything the loader needs
/// per sample without touching the catalog again, 88 bytes a sample (1.3M ImageNet images ~ 115
/// MB), on the heap or mapped from a saved table (``SampleTableFile``).
public struct SampleTable: Sendable {
    let rows: SampleRows
    /// Per component of the selection: the range of samples it contributed, and its weight.
    public let components: [(range: Range<Int>, weight: Double)]
    public let classNames: [String]

    public var count: Int { rows.count }
    /// Whether the rows are mapped from a table saved by an earlier load (else read from the catalog).
    public var isMapped: Bool { rows.isMapped }

    public var locations: Column<BlobLocation> { Column(rows) { $0.location($1) } }
    /// The catalog id of each sample's blob (what a training run records as its inputs).
    public var blobIDs: Column<Int64> { Column(rows) { $0.blobID($1) } }
    public var labels: Column<Int32> { Column(rows) { $0.label($1) } }
    /// The pixel-cache image for each sample at the loader's short side, when built.
    public var cached: Column<CachedPixels?> { Column(rows) { $0.cached($1) } }

    public struct CachedPixels: Sendable, Hashable {
        public var location: BlobLocation
        public var width: Int
        public var height: Int
    }

    /// One field of every sample, read from its record.
    public struct Column<Element>: RandomAccessCollection, Sendable {
        let rows: SampleRows
        let field: @Sendable (SampleRows, Int) -> Element
        init(_ rows: SampleRows, _ field: @escaping @Sendable (SampleRows, Int) -> Element) {
            self.rows = rows
            self.field = field
        }
        public var startIndex: Int { 0 }
        public var endIndex: Int { rows.count }
        public subscript(position: Int) -> Element {
            precondition(position >= 0 && position < rows.count, "sample \(position) is outside the table's \(rows.count)")
            return field(rows, position)
        }
    }

    init(rows: SampleRows, components: [(range: Range<Int>, weight: Double)], classNames: [String]) {
        self.rows = rows
        self.components = components
        self.classNames = classNames
    }

    /// Builds a table sample by sample, component by component.
    public struct Builder {
        private var rows = SampleRows.Builder()
        private var components: [(range: Range<Int>, weight: Double)] = []
        private var count = 0
        private var componentStart = 0

        public init() {}

        public mutating func append(location: BlobLocation, blobID: Int64, label: Int32, cached: CachedPixels? = nil) {
            rows.append(location: location, blobID: blobID, label: label, cached: cached)
            count += 1
        }

        /// Samples appended since the last call.
        public var pendingCount: Int { count - componentStart }

        /// Closes the component of the samples appended since the last call.
        public mutating func endComponent(weight: Double) {
            components.append((componentStart..<count, weight))
            componentStart = count
        }

        public func finish(classNames: [String]) -> SampleTable {
            SampleTable(rows: rows.finish(), components: components, classNames: classNames)
        }
    }

    /// Loads the selection in catalog order (real: split, path; synthetic: generation order),
    /// which is stable across runs.
    /// - Parameter cacheShortSide: look up pixel-cache entries at this short side.
    ///
    /// An embedded store's table is saved under `STORE/cache/sample-tables/` at the catalog's
    /// change token; a later load of the same selection at the same token maps the saved file,
    /// so it costs the same for ten thousand rows or a million. Saving is best effort (a store on
    /// read-only media simply reloads each time).
    public static func load(_ store: Store, selection: Selection, cacheShortSide: Int? = nil) throws -> SampleTable {
        let key = SampleTableFile.key(selection, cacheShortSide: cacheShortSide)
        let (table, token) = try store.read { catalog -> (SampleTable, Int64?) in
            let token = try catalog.info.changeToken()
            if let token, let saved = SampleTableFile.open(store.layout, selection: selection, key: key, token: token) { return (saved, nil) }
            return (try query(catalog, selection: selection, cacheShortSide: cacheShortSide), token)
        }
        if let token { try? SampleTableFile.save(table, layout: store.layout, key: key, token: token) }
        return table
    }

    private static func query(_ catalog: any CatalogSnapshot, selection: Selection, cacheShortSide: Int?) throws -> SampleTable {
        var builder = Builder()
        var classNames: [String] = []
        for component in selection.components {
            guard let dataset = try catalog.datasets.dataset(named: component.dataset) else {
                throw LoaderError("no dataset named \"\(component.dataset)\"", code: .notFound)
            }
            if classNames.isEmpty {
                classNames = try catalog.datasets.classes(of: dataset.id).map(\.wnid)
            }
            let classFilter = try component.classes.map { names in
                try Set(names.map { name in
                    guard let id = try catalog.datasets.classID(matching: name, in: dataset.id) else {
                        throw LoaderError("dataset \"\(component.dataset)\" has no class \"\(name)\"", code: .notFound)
                    }
                    return id
                })
            }
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
                builder.append(location: sample.location, blobID: sample.blobID, label: Int32(sample.label),
                               cached: sample.cached.map { CachedPixels(location: $0.location, width: $0.width, height: $0.height) })
            }
            guard builder.pendingCount > 0 else {
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
            builder.endComponent(weight: component.weight)
        }
        return builder.finish(classNames: classNames)
    }

    /// How many samples have a pixel-cache image.
    public var cachedCount: Int { rows.cacheCount }
}
