import COpenBLAS

/// The OpenBLAS build this process runs on.
public enum BLAS {
    /// The kernel family OpenBLAS picked (or was told to use with OPENBLAS_CORETYPE).
    public static var coreName: String { String(cString: openblas_get_corename()) }
}
