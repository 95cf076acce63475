import LoomStore

/// What to load: `DATASET:SPLIT` for real images, `DATASET:synthetic:STRATEGY` for the synthetic
/// images generated from that dataset's prompts of one strategy; each optionally `*WEIGHT`,
/// several joined with `+` for a mixture: `imagenette:train*0.5+imagenette:synthetic:class-caption`.
/// Class filters come from the command line.
public struct Selection: Sendable, Hashable, CustomStringConvertible {
    public struct Component: Sendable, Hashable {
        public enum Source: Sendable, Hashable {
            case real(split: String)
            case synthetic(strategy: String)
        }

        public var dataset: String
        public var source: Source
        public var classes: [String]?
        public var weight: Double

        public init(dataset: String, source: Source, classes: [String]? = nil, weight: Double = 1) {
            self.dataset = dataset
            self.source = source
            self.classes = classes
            self.weight = weight
        }

        public init(dataset: String, split: String, classes: [String]? = nil, weight: Double = 1) {
            self.init(dataset: dataset, source: .real(split: split), classes: classes, weight: weight)
        }

        /// `DATASET:SPLIT` or `DATASET:synthetic:STRATEGY`, without the weight.
        public var name: String {
            switch source {
            case .real(let split): "\(dataset):\(split)"
            case .synthetic(let strategy): "\(dataset):synthetic:\(strategy)"
            }
        }
    }

    public var components: [Component]

    public init(_ components: [Component]) { self.components = components }

    public init(dataset: String, split: String, classes: [String]? = nil) {
        components = [Component(dataset: dataset, split: split, classes: classes)]
    }

    /// Parses the `DATASET:SPLIT[*W]+DATASET:synthetic:STRATEGY[*W]+...` form.
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
            guard !names.contains(where: \.isEmpty) else {
                throw LoaderError(
                    "selection \"\(text)\": expected DATASET:SPLIT or DATASET:synthetic:STRATEGY, got \"\(pieces[0])\" (an empty name)")
            }
            switch names.count {
            case 2:
                return Component(dataset: names[0], source: .real(split: names[1]), weight: weight)
            case 3 where names[1] == "synthetic":
                return Component(dataset: names[0], source: .synthetic(strategy: names[2]), weight: weight)
            default:
                throw LoaderError(
                    "selection \"\(text)\": expected DATASET:SPLIT or DATASET:synthetic:STRATEGY, got \"\(pieces[0])\"")
            }
        }
    }

    public var description: String {
        // A weight of 1e16 or more prints as "1e+16": drop the exponent's "+", which would split
        // the selection ("1e16" parses back to the same weight).
        components.map { c in c.name + (c.weight == 1 ? "" : "*" + "\(c.weight)".replacing("e+", with: "e")) }.joined(separator: "+")
    }
}

/// A failure of the loader with its cause in words, and its kind as a store error code
/// (`.notFound` for a dataset, split or class that is not there, else `.invalidArgument`), so
/// the CLI and the service map the code, never the message.
public struct LoaderError: Error, CustomStringConvertible, Sendable {
    public var message: String
    public var code: StoreError.Code
    public init(_ message: String, code: StoreError.Code = .invalidArgument) {
        self.message = message
        self.code = code
    }
    public var description: String { message }
}
