// Argument struct of the tiled GEMM kernel (gpu/kernels/gemm.h).
#pragma once
#include "gpu/dialect.h"

// C[b] (M, N) = A[b] (M, K) @ B[b] (K, N), all contiguous row-major.
template <typename T>
struct ScGemmArgs {
  SC_PTR(const T) a;
  SC_PTR(const T) b;
  SC_PTR(T) c;
  sc_i64 M, N, K;
};
