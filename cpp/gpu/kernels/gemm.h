// Batched GEMM with 16x16 tiles staged through shared memory: a group of
// 16 x 16 threads computes one 16 x 16 tile of C; grid (N tiles, M tiles,
// batch). The portable path (the simulator, and CUDA when cuBLAS cannot be
// loaded); vendor GEMMs (cuBLAS, MPS) are faster where they exist.
#pragma once
#include "gpu/kernels/gemm_args.h"

#define SC_GEMM_TILE 16

#define SC_GEMM_KERNEL(SUF, T)                                                          \
  SC_KERNEL(gemm_tiled_##SUF, ScGemmArgs<T>) {                                         \
    SC_SHARED(T, As, SC_GEMM_TILE * SC_GEMM_TILE);                                     \
    SC_SHARED(T, Bs, SC_GEMM_TILE * SC_GEMM_TILE);                                     \
    const sc_i64 tx = SC_TID_X, ty = SC_TID_Y;                                         \
    const sc_i64 row = (sc_i64)SC_GID_Y * SC_GEMM_TILE + ty;                           \
    const sc_i64 col = (sc_i64)SC_GID_X * SC_GEMM_TILE + tx;                           \
    const sc_i64 batch = SC_GID_Z;                                                     \
    SC_PTR(const T) A = args.a + batch * args.M * args.K;                              \
    SC_PTR(const T) B = args.b + batch * args.K * args.N;                              \
    T acc = T(0);                                                                      \
    for (sc_i64 k0 = 0; k0 < args.K; k0 += SC_GEMM_TILE) {                             \
      As[ty * SC_GEMM_TILE + tx] =                                                     \
          (row < args.M && k0 + tx < args.K) ? A[row * args.K + k0 + tx] : T(0);       \
      Bs[ty * SC_GEMM_TILE + tx] =                                                     \
          (k0 + ty < args.K && col < args.N) ? B[(k0 + ty) * args.N + col] : T(0);     \
      SC_BARRIER();                                                                    \
      for (int k = 0; k < SC_GEMM_TILE; ++k) acc += As[ty * SC_GEMM_TILE + k] * Bs[k * SC_GEMM_TILE + tx]; \
      SC_BARRIER();                                                                    \
    }                                                                                  \
    if (row < args.M && col < args.N) args.c[batch * args.M * args.N + row * args.N + col] = acc; \
  }
SC_GPU_FOR_FLOATS(SC_GEMM_KERNEL)
