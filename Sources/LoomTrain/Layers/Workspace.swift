/// Scratch space that convolutions share: the im2col matrix and its gradient.
///
/// Layers run one at a time, so one network needs one pair of column buffers, sized for its
/// largest convolution chunk. Convolutions cut the batch into chunks so that a column buffer stays
/// under ``Workspace/columnLimit`` floats however large the batch or image.
final class Workspace {
    /// Floats per column buffer (2 MiB). Small enough that a chunk's columns are still in cache
    /// when sgemm packs them (im2col writes 9x the input for a 3x3 conv, and with few channels
    /// that traffic, not the arithmetic, sets the pace: 32 MiB chunks ran resnet-small about 1.5x
    /// slower), large enough that each sgemm still gets hundreds to thousands of columns. A chunk
    /// always holds at least one image, so one image's columns may exceed it.
    static let defaultColumnLimit = 1 << 19

    let columnLimit: Int
    let columns = FloatBuffer()
    let columnGradients = FloatBuffer()

    init(columnLimit: Int = Workspace.defaultColumnLimit) {
        self.columnLimit = columnLimit
    }
}
