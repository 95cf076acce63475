/// The shape of an activation in the trainer's internal channel-major layout, C x N x H x W.
///
/// Channel-major lets one sgemm cover the whole batch (a conv's output is Cout x (N*H*W), exactly
/// the product W * im2col(x)), and keeps each channel contiguous for BatchNorm's per-channel
/// statistics. The network converts from the loader's NCHW once at the input.
struct ActivationShape: Hashable, CustomStringConvertible {
    var channels: Int
    var batch: Int
    var height: Int
    var width: Int

    /// Elements of one channel across the batch (N*H*W).
    var channelSize: Int { batch * height * width }
    var plane: Int { height * width }
    var count: Int { channels * batch * height * width }
    var description: String { "\(channels)x\(batch)x\(height)x\(width)" }
}

/// A borrowed view of an activation: the storage belongs to the layer that produced it (its
/// output ``FloatBuffer``) and stays valid until that layer's next forward pass, which is all a
/// training step needs (forward, then backward, then the next forward).
struct Activation {
    var pointer: UnsafeMutablePointer<Float>
    var shape: ActivationShape
}
