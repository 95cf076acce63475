// OpenBLAS's cblas.h also declares its runtime controls (openblas_get_corename,
// openblas_set_num_threads, openblas_get_num_threads).
#include <cblas.h>
