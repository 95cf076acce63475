/// A named value in a checkpoint: a row-major float32 array and its shape.
///
/// The trainer computes on raw buffers; `Tensor` is only the exchange form for saving and
/// loading state (``Network/stateTensors()``, ``SGD/stateTensors()``, ``TensorArchive``).
/// A scalar has shape `[]` and one element.
public struct Tensor: Sendable, Hashable {
    public var shape: [Int]
    public var data: [Float]

    public init(shape: [Int], data: [Float]) {
        precondition(shape.allSatisfy { $0 >= 0 }, "negative dimension in \(shape)")
        precondition(shape.reduce(1, *) == data.count, "shape \(shape) needs \(shape.reduce(1, *)) elements, got \(data.count)")
        self.shape = shape
        self.data = data
    }

    /// Elements the shape holds (1 for a scalar).
    public var elementCount: Int { shape.reduce(1, *) }

    /// Bitwise equality, so NaN payloads and -0 compare as written (what a checkpoint round trip must keep).
    public func bitwiseEqual(_ other: Tensor) -> Bool {
        shape == other.shape && data.count == other.data.count
            && zip(data, other.data).allSatisfy { $0.bitPattern == $1.bitPattern }
    }
}
