import COpenBLAS

/// Single-precision matrix products through `cblas_sgemm`, row-major.
///
/// A thin wrapper so that layer code reads like the maths (C = alpha * op(A) * op(B) + beta * C)
/// and passes leading dimensions explicitly: convolutions multiply column slices of wider
/// matrices (one batch chunk of a C x (N*H*W) activation), so the leading dimension is often not
/// the column count.
enum Gemm {
    /// `c[m x n] = alpha * op(a)[m x k] * op(b)[k x n] + beta * c`, all row-major.
    /// - Parameters:
    ///   - transA: use `a` transposed (`a` is then stored k x m).
    ///   - lda, ldb, ldc: row strides of the stored matrices.
    static func multiply(
        m: Int, n: Int, k: Int,
        _ a: UnsafePointer<Float>, lda: Int, transA: Bool = false,
        _ b: UnsafePointer<Float>, ldb: Int, transB: Bool = false,
        into c: UnsafeMutablePointer<Float>, ldc: Int,
        alpha: Float = 1, beta: Float = 0
    ) {
        guard m > 0, n > 0 else { return }
        if k == 0 {
            // sgemm with k == 0 is legal and scales C by beta; do the same without a call.
            for i in 0..<m { for j in 0..<n { c[i * ldc + j] = beta == 0 ? 0 : beta * c[i * ldc + j] } }
            return
        }
        cblas_sgemm(CblasRowMajor, transA ? CblasTrans : CblasNoTrans, transB ? CblasTrans : CblasNoTrans,
                    Int32(m), Int32(n), Int32(k), alpha, a, Int32(lda), b, Int32(ldb), beta, c, Int32(ldc))
    }
}
