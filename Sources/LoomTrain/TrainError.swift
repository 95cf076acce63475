/// A failure of the trainer's numeric core (unknown model, state that does not fit, a corrupt
/// checkpoint) with its cause in words.
public struct TrainError: Error, CustomStringConvertible, Sendable, Hashable {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}
