import Foundation
import LoomLoader

/// A classifier built from a ``ModelSpec``: forward to logits, backward to parameter gradients.
///
/// Callers see the loader's layout (NCHW images in, batch x classes logits out); inside, every
/// activation is channel-major (see ``ActivationShape``) and lives in a buffer owned by the layer
/// that produced it, allocated at the first step and reused after (a larger batch reallocates).
/// Not thread-safe: one training loop drives one network.
public final class Network {
    public let spec: ModelSpec
    let layers: [any Layer]
    private let workspace = Workspace()
    private let input = FloatBuffer()
    private let gradLogits = FloatBuffer()
    /// Batch of the last forward pass, and whether it was a training pass (backward needs one).
    private var lastBatch = 0
    private var lastForwardTrained = false
    public let parameters: [Parameter]
    let buffers: [StateBuffer]
    /// When set, forward and backward time each top-level layer into it.
    public var profile: LayerProfile?

    /// Builds the network with freshly initialised weights (torchvision's: Kaiming-normal fan-out
    /// convolutions, unit/zero BatchNorm, nn.Linear's uniform default).
    /// - Parameter seed: the same seed gives bit-identical weights.
    /// - Throws: ``TrainError`` for an unknown model name (listing the known ones) or an unusable spec.
    public init(_ spec: ModelSpec, seed: UInt64) throws {
        self.spec = spec
        var rng = SplitMix64(keys: seed, 0x4C6F_6F6D_4E65_74)  // "LoomNet": weights, not some other stream of this seed
        layers = try ResNet.makeLayers(spec, workspace: workspace, rng: &rng)
        parameters = layers.flatMap(\.parameters)
        buffers = layers.flatMap(\.buffers)
    }

    /// Trainable scalars (torch's `sum(p.numel() for p in model.parameters())`).
    public var parameterCount: Int { parameters.reduce(0) { $0 + $1.count } }

    /// Runs the network on a batch.
    /// - Parameters:
    ///   - input: `batch x C x H x W` floats, row-major NCHW (what the loader's `normalizedCHW` writes).
    ///   - training: BatchNorm uses batch statistics and updates its running ones; required before ``backward(_:)``.
    /// - Returns: logits, `batch x classes`, row-major.
    public func forward(_ input: UnsafeBufferPointer<Float>, batch: Int, training: Bool) -> [Float] {
        let (c, side) = (spec.channels, spec.inputSize)
        precondition(batch >= 1, "empty batch")
        precondition(input.count >= batch * spec.inputElements,
                     "input holds \(input.count) floats; \(batch) x \(c) x \(side) x \(side) needs \(batch * spec.inputElements)")
        let shape = ActivationShape(channels: c, batch: batch, height: side, width: side)
        let x = self.input.reserve(shape.count)
        let source = input.baseAddress!
        // NCHW -> CNHW: plane (n, c) moves to position (c, n).
        Parallel.forEach(c * batch, work: shape.count) { p in
            let (channel, n) = (p / batch, p % batch)
            (x + p * shape.plane).update(from: source + (n * c + channel) * shape.plane, count: shape.plane)
        }
        var activation = Activation(pointer: x, shape: shape)
        for (index, layer) in layers.enumerated() {
            let start = profile == nil ? nil : ContinuousClock.now
            activation = layer.forward(activation, training: training)
            if let start { profile?.record(index, layer: Self.describe(layer), forward: (ContinuousClock.now - start) / .seconds(1)) }
        }
        lastBatch = batch
        lastForwardTrained = training
        // classes x N -> N x classes.
        let classes = spec.classes
        var logits = [Float](repeating: 0, count: batch * classes)
        for k in 0..<classes {
            for n in 0..<batch { logits[n * classes + k] = activation.pointer[k * batch + n] }
        }
        return logits
    }

    /// Back-propagates d(loss)/d(logits) through the last training forward pass and overwrites
    /// every parameter's `grad`.
    /// - Parameter gradLogits: `batch x classes`, row-major, for the batch of the last forward.
    public func backward(_ gradLogits: [Float]) {
        precondition(lastForwardTrained, "backward needs a forward(training: true) first")
        let (batch, classes) = (lastBatch, spec.classes)
        precondition(gradLogits.count == batch * classes, "gradLogits has \(gradLogits.count) floats, expected \(batch) x \(classes)")
        var grad = UnsafePointer(self.gradLogits.reserve(batch * classes))
        let transposed = self.gradLogits.pointer
        for n in 0..<batch {
            for k in 0..<classes { transposed[k * batch + n] = gradLogits[n * classes + k] }
        }
        for (index, layer) in layers.enumerated().reversed() {
            let start = profile == nil ? nil : ContinuousClock.now
            let next = layer.backward(grad)
            if let start { profile?.record(index, layer: Self.describe(layer), backward: (ContinuousClock.now - start) / .seconds(1)) }
            guard let next else { break }
            grad = UnsafePointer(next)
        }
    }

    /// "BasicBlock stage2.0": the layer's type and the prefix of its parameters' names.
    private static func describe(_ layer: any Layer) -> String {
        let type = String(describing: Swift.type(of: layer))
        guard let name = layer.parameters.first?.name else { return type }
        let prefix = name.split(separator: ".").prefix { !["conv1", "bn1", "weight", "bias"].contains($0) }
        return prefix.isEmpty ? "\(type) \(name.split(separator: ".").first!)" : "\(type) \(prefix.joined(separator: "."))"
    }
}
