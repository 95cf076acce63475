/// What to load, written `DATASET:SPLIT` (real images), optionally `*WEIGHT`, several joined
/// with `+` for a mixture: `imagenette:train*0.5+imagenette:val`. Class filters come from the
/// command line. (Synthetic selections, `DATASET:synthetic:STRATEGY`, arrive with the pipeline.)
public struct Selection: Sendable, Hashable, CustomStringConvertible {
    public struct Component: Sendable, Hashable {
        public var dataset: String
        public var split: String
        public var classes: [String]?
        public var weight: Double

        public init(dataset: String, split: String, classes: [String]? = nil, weight: Double = 1) {
            self.dataset = dataset
            self.split = split
            self.classes = classes
            self.weight = weight
        }
    }

    public var components: [Component]

    public init(_ components: [Component]) { self.components = components }

    public init(dataset: String, split: String, classes: [String]? = nil) {
        components = [Component(dataset: dataset, split: split, classes: classes)]
    }

    /// Parses the `DATASET:SPLIT[*W]+...` form.
    public init(parsing text: String) throws {
        components = try text.split(separator: "+", omittingEmptySubsequences: false).map { part in
            let pieces = part.split(separator: "*", maxSplits: 1, omittingEmptySubsequences: false)
            var weight = 1.0
            if pieces.count == 2 {
                guard let parsed = Double(pieces[1]), parsed > 0, parsed.isFinite else {
                    throw LoaderError("selection \"\(text)\": weight \"\(pieces[1])\" is not a positive number")
                }
                weight = parsed
            }
            let names = pieces[0].split(separator: ":", omittingEmptySubsequences: false).map(String.init)
            guard names.count == 2, !names[0].isEmpty, !names[1].isEmpty else {
                throw LoaderError("selection \"\(text)\": expected DATASET:SPLIT, got \"\(pieces[0])\"")
            }
            return Component(dataset: names[0], split: names[1], weight: weight)
        }
    }

    public var description: String {
        components.map { c in "\(c.dataset):\(c.split)" + (c.weight == 1 ? "" : "*\(c.weight)") }.joined(separator: "+")
    }
}

/// A failure of the loader with its cause in words.
public struct LoaderError: Error, CustomStringConvertible, Sendable {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}
