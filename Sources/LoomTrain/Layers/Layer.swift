/// One differentiable stage of a network, in the channel-major layout (see ``ActivationShape``).
///
/// A layer owns its output and input-gradient buffers and remembers what its backward pass needs
/// (its input, its output, masks) from the last forward pass. The contract a training step relies on:
/// - `forward` returns a view of the layer's own output buffer, valid until its next `forward`;
///   the input view must stay valid until `backward` (it is the previous layer's output).
/// - `backward` takes d(loss)/d(output), never modifies it, overwrites the gradients of the
///   layer's parameters, and returns d(loss)/d(input) in the layer's own buffer (or nil for a
///   layer told that nobody needs it, such as the network's first convolution). The caller may
///   modify that returned gradient in place: its owner does not read it again.
protocol Layer: AnyObject {
    func forward(_ input: Activation, training: Bool) -> Activation
    func backward(_ gradOutput: UnsafePointer<Float>) -> UnsafeMutablePointer<Float>?
    /// Trainable parameters, in a stable order.
    var parameters: [Parameter] { get }
    /// Checkpointed non-trainable state (BatchNorm running statistics).
    var buffers: [StateBuffer] { get }
}

extension Layer {
    var buffers: [StateBuffer] { [] }
}
