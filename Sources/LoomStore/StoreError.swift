/// A failure of the store, with what was being touched and why.
public struct StoreError: Error, CustomStringConvertible, Sendable {
    public struct Code: RawRepresentable, Hashable, Sendable {
        public let rawValue: String
        public init(rawValue: String) { self.rawValue = rawValue }

        public static let notFound = Code(rawValue: "not-found")
        public static let ambiguous = Code(rawValue: "ambiguous")
        public static let locked = Code(rawValue: "locked")
        public static let io = Code(rawValue: "io")
        public static let corrupt = Code(rawValue: "corrupt")
        public static let noStore = Code(rawValue: "no-store")
        public static let schema = Code(rawValue: "schema")
        public static let invalidArgument = Code(rawValue: "invalid-argument")
        /// Every slot for user SQL is taken; try again shortly.
        public static let busy = Code(rawValue: "busy")
        /// A user SQL statement ran past its time limit and was stopped.
        public static let timedOut = Code(rawValue: "timed-out")
        /// A user SQL statement was stopped from outside (its client went away, or a shutdown).
        public static let cancelled = Code(rawValue: "cancelled")
        /// The catalog's state forbids the change (finishing a run that already finished).
        public static let conflict = Code(rawValue: "conflict")
        /// The catalog server cannot be reached (refused, gone, shutting down); try again later.
        public static let unavailable = Code(rawValue: "unavailable")
    }

    public var code: Code
    public var message: String
    /// The file the error concerns, where there is one.
    public var path: String?

    public init(_ code: Code, _ message: String, path: String? = nil) {
        self.code = code
        self.message = message
        self.path = path
    }

    public var description: String {
        if let path { return "\(path): \(message)" }
        return message
    }
}
