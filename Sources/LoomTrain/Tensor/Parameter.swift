/// A trainable array with its gradient, shared by reference between a layer and the optimiser.
///
/// `value` and `grad` are plain arrays so the training loop and tests can read and set them; the
/// layers reach their storage through `withUnsafe...BufferPointer` on the hot path, which never
/// copies because the parameter is their only owner.
public final class Parameter {
    /// Stable dotted name, e.g. `stage1.0.conv1.weight` (torchvision's names, `layerN` spelt `stageN`).
    public let name: String
    public var value: [Float]
    /// d(loss)/d(value) after the last ``Network/backward(_:)``, overwritten by each one.
    public var grad: [Float]
    /// Whether weight decay applies: true for conv and linear weights, false for biases and BatchNorm.
    public let decays: Bool
    public let shape: [Int]

    public init(name: String, shape: [Int], value: [Float], decays: Bool) {
        precondition(shape.reduce(1, *) == value.count, "\(name): shape \(shape) does not hold \(value.count) values")
        self.name = name
        self.shape = shape
        self.value = value
        self.grad = [Float](repeating: 0, count: value.count)
        self.decays = decays
    }

    public var count: Int { value.count }
}

/// Non-trainable state that a checkpoint must carry: BatchNorm's running mean and variance and
/// its count of batches seen (`num_batches_tracked`, kept as a float scalar).
final class StateBuffer {
    let name: String
    let shape: [Int]
    var value: [Float]

    init(name: String, shape: [Int], value: [Float]) {
        precondition(shape.reduce(1, *) == value.count)
        self.name = name
        self.shape = shape
        self.value = value
    }
}
