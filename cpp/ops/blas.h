// General matrix multiply for C++ callers: a real BLAS when one can be found
// (Accelerate on macOS, OpenBLAS from the scipy-openblas32 wheel, a system
// OpenBLAS/CBLAS), else a cache-blocked GEMM of our own (blas.cpp).
//
// Row-major, like cblas_?gemm(CblasRowMajor, ...):
//   C (M x N, leading dimension ldc) = alpha * op(A) @ op(B) + beta * C
// op(A) is M x K: A is stored M x K (lda >= K) when !transA, K x M (lda >= M) when transA.
// op(B) is K x N: B is stored K x N (ldb >= N) when !transB, N x K (ldb >= K) when transB.
// beta == 0 means C is write-only (NaNs already in C do not propagate).
//
// Call from the calling thread only, never inside parallel_for: the BLAS runs
// its own threads (its thread count follows sc::num_threads()).
#pragma once
#include <cstdint>

namespace sc {

void gemm(bool transA, bool transB, int64_t M, int64_t N, int64_t K, float alpha, const float* A,
          int64_t lda, const float* B, int64_t ldb, float beta, float* C, int64_t ldc);
void gemm(bool transA, bool transB, int64_t M, int64_t N, int64_t K, double alpha,
          const double* A, int64_t lda, const double* B, int64_t ldb, double beta, double* C,
          int64_t ldc);

// The portable blocked GEMM (also used when no BLAS is found); exposed for tests
// and benchmarks. Parallelised with parallel_for.
void gemm_fallback(bool transA, bool transB, int64_t M, int64_t N, int64_t K, float alpha,
                   const float* A, int64_t lda, const float* B, int64_t ldb, float beta, float* C,
                   int64_t ldc);
void gemm_fallback(bool transA, bool transB, int64_t M, int64_t N, int64_t K, double alpha,
                   const double* A, int64_t lda, const double* B, int64_t ldb, double beta,
                   double* C, int64_t ldc);

// True when gemm() goes to a real BLAS (loads it on first use).
bool blas_available();

// ---- single-threaded GEMM for callers that parallelise themselves ----------------
// gemm_serial: the same product as gemm() (float32), computed on the calling
// thread only, so that several parallel_for tasks may each run one at once
// (e.g. one output tile each). It requires a SerialBlasScope alive on the
// thread that starts the parallel region: while one is, the BLAS library runs
// single-threaded (for every caller, gemm() included); the previous thread count
// comes back at the first gemm() after the last scope ends. Without a real BLAS
// it is the blocked fallback, inline on the calling thread.
class SerialBlasScope {
 public:
  SerialBlasScope();
  ~SerialBlasScope();
  SerialBlasScope(const SerialBlasScope&) = delete;
  SerialBlasScope& operator=(const SerialBlasScope&) = delete;
};
void gemm_serial(bool transA, bool transB, int64_t M, int64_t N, int64_t K, float alpha,
                 const float* A, int64_t lda, const float* B, int64_t ldb, float beta, float* C,
                 int64_t ldc);

}  // namespace sc
