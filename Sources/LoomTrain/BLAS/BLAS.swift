import COpenBLAS

/// The OpenBLAS build this process runs on.
public enum BLAS {
    /// The kernel family OpenBLAS picked (or was told to use with OPENBLAS_CORETYPE), e.g. "Haswell".
    public static var coreName: String { String(cString: openblas_get_corename()) }

    /// Threads OpenBLAS uses for one call (`openblas_set_num_threads`).
    public static func setThreads(_ n: Int) { openblas_set_num_threads(Int32(max(1, n))) }

    /// `openblas_get_num_threads`.
    public static var threads: Int { Int(openblas_get_num_threads()) }

    /// Makes sure OpenBLAS runs a fast kernel for this CPU, re-executing the process with
    /// OPENBLAS_CORETYPE set when it picked a slow generic one (see ``KernelSelection``).
    ///
    /// Call it first thing in a command that trains (before other threads or output): it may
    /// replace the process image with `execv` and never return. Later calls return the first
    /// call's answer.
    public static func selectKernel() -> KernelChoice { selection }

    private static let selection: KernelChoice = KernelSelection.apply()
}
