/// A failure that stops an ingest as a whole (a bad root, a bad class-names file). Problems
/// with single files never throw: they become ``Rejection``s and the rest still goes in.
public struct IngestError: Error, CustomStringConvertible, Sendable {
    public var message: String
    public var path: String?

    public init(_ message: String, path: String? = nil) {
        self.message = message
        self.path = path
    }

    public var description: String { path.map { "\($0): \(message)" } ?? message }
}
