/// Scratch space that convolutions share: the im2col matrix and its gradient.
///
/// Layers run one at a time, so one network needs one pair of column buffers, sized for its
/// largest convolution chunk. Convolutions cut the batch into chunks so that a column buffer stays
/// under ``Workspace/columnLimit`` floats however large the batch or image.
final class Workspace {
    /// Floats per column buffer (32 MiB): large enough that each sgemm still sees thousands of
    /// columns, small enough to stay modest next to the activations.
    static let defaultColumnLimit = 8 << 20

    let columnLimit: Int
    let columns = FloatBuffer()
    let columnGradients = FloatBuffer()

    init(columnLimit: Int = Workspace.defaultColumnLimit) {
        self.columnLimit = columnLimit
    }
}
