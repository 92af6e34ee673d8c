// The runtimes of the optional GPU backends. Builds without a backend link the
// fallbacks of cpp/backend/cpu/backends_cpu.cpp (count 0, never called).
#pragma once
#include "backend/backends.h"
#include <cstdint>
#include <string>

#include "core/tensor.h"
#include "gpu/runtime.h"

namespace sc::gpu {
int cuda_runtime_count();
Runtime& cuda_runtime(int index);
// cuBLAS (gpu/cuda/cublas.cpp): false when it cannot be loaded or does not take the dtype.
// fp32_mode (float32 only): 0 IEEE, 1 TF32, 2 bfloat16 tensor cores. c's rows are
// ldc apart (-1: N); accumulate: c += a b (beta = 1) instead of c = a b.
bool cublas_gemm(const Tensor& c, const Tensor& a, const Tensor& b, int64_t nb, int64_t M, int64_t N,
                 int64_t K, int fp32_mode, int64_t ldc = -1, bool accumulate = false);
std::string cublas_info();
// The CUDA queue's timeline, for measuring how long the GPU waits on the host:
// while on, every kernel launch is bracketed by two events. cuda_timeline(on)
// turns it on or off and returns, for the launches since the last call, the
// seconds the kernels ran (sum of bracket times) and the span from the first
// bracket's start to the last's end (the queue's wall time): span - busy is the
// GPU's idle time. {0, 0} with no CUDA backend or no launches.
struct TimelineStats {
  double busy_seconds = 0, span_seconds = 0;
  int64_t launches = 0;
};
TimelineStats cuda_timeline(bool on);
int metal_runtime_count();
Runtime& metal_runtime(int index);
// MPS (gpu/metal/mps_gemm.cpp): false where MPS does not take the dtype or layout.
bool metal_gemm(const Tensor& c, const Tensor& a, const Tensor& b, int64_t nb, int64_t M, int64_t N, int64_t K);
std::string metal_gemm_info();
}  // namespace sc::gpu
