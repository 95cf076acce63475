/// What a dataset export produced, for the CLI's one-line summary and its `--json` output.
public struct ExportSummary: Sendable, Codable, Equatable {
    /// One split of an ImageNet-style layout (`train/` or `val/`).
    public struct Split: Sendable, Codable, Equatable {
        /// `train` or `val`: the folder under the output directory.
        public var name: String
        /// The IDX images file the split was taken from.
        public var source: String
        /// Images in the split after the export, written now or already there.
        public var images: Int
        /// Images written by this run.
        public var written: Int
        /// Images skipped because an identical-size file was already there (a re-run).
        public var unchanged: Int
        /// Images per class folder id.
        public var perClass: [String: Int]

        public init(name: String, source: String, images: Int, written: Int, unchanged: Int, perClass: [String: Int]) {
            self.name = name
            self.source = source
            self.images = images
            self.written = written
            self.unchanged = unchanged
            self.perClass = perClass
        }
    }

    /// The dataset's name, as the CLI spells it (`fashion-mnist`).
    public var dataset: String
    /// Absolute path of the export's root directory.
    public var outputDirectory: String
    /// The `LOC_synset_mapping.txt` written next to `train/` and `val/`.
    public var mappingFile: String
    public var train: Split
    public var val: Split

    public init(dataset: String, outputDirectory: String, mappingFile: String, train: Split, val: Split) {
        self.dataset = dataset
        self.outputDirectory = outputDirectory
        self.mappingFile = mappingFile
        self.train = train
        self.val = val
    }

    /// Images written by this run across both splits; zero for a re-run over a finished export.
    public var written: Int { train.written + val.written }
}
