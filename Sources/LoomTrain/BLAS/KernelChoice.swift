/// Which OpenBLAS kernel this process runs and why: what ``BLAS/selectKernel()`` returns.
public struct KernelChoice: Sendable, Hashable, CustomStringConvertible {
    public enum Reason: Sendable, Hashable {
        /// OpenBLAS's own pick was already a fast kernel.
        case openBLASPick
        /// OPENBLAS_CORETYPE was set by the user (the value given).
        case environment(String)
        /// LOOM_BLAS_AUTO=0 turned selection off (also set after a chosen kernel failed its check).
        case disabled
        /// OpenBLAS picked a generic kernel and no better one fits this CPU's flags.
        case noBetterKernel
        /// Loom re-executed with OPENBLAS_CORETYPE; `original` is what OpenBLAS picked, and a
        /// test sgemm matched a double-precision reference.
        case chosenByLoom(original: String)
        /// Re-executing failed (errno text); the process goes on with OpenBLAS's pick.
        case reexecFailed(String)
    }

    /// The running kernel (`openblas_get_corename()`).
    public var kernel: String
    public var reason: Reason

    public init(kernel: String, reason: Reason) {
        self.kernel = kernel
        self.reason = reason
    }

    /// E.g. "Haswell (chosen by loom; OpenBLAS picked Prescott; sgemm checked)".
    public var description: String {
        switch reason {
        case .openBLASPick: "\(kernel) (OpenBLAS's own pick)"
        case .environment(let value): "\(kernel) (OPENBLAS_CORETYPE=\(value))"
        case .disabled: "\(kernel) (OpenBLAS's own pick; LOOM_BLAS_AUTO=0)"
        case .noBetterKernel: "\(kernel) (OpenBLAS's own pick; no faster kernel for this CPU)"
        case .chosenByLoom(let original): "\(kernel) (chosen by loom; OpenBLAS picked \(original); sgemm checked)"
        case .reexecFailed(let why): "\(kernel) (OpenBLAS's own pick; re-executing with a faster kernel failed: \(why))"
        }
    }
}
