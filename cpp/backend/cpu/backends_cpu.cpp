// Fallbacks for the GPU backends that this build does not include.
#include <stdexcept>

#include "gpu/backend_hooks.h"

namespace sc {

#ifndef SPLATCORE_HAS_CUDA
bool cuda_built() { return false; }
int cuda_device_count() { return 0; }
namespace gpu {
int cuda_runtime_count() { return 0; }
Runtime& cuda_runtime(int) { throw std::logic_error("cuda_runtime: no CUDA backend in this build"); }
bool cublas_gemm(const Tensor&, const Tensor&, const Tensor&, int64_t, int64_t, int64_t, int64_t, int, int64_t,
                 bool) {
  return false;
}
std::string cublas_info() { return "none (no CUDA backend in this build)"; }
TimelineStats cuda_timeline(bool) { return {}; }
}  // namespace gpu
#endif

#ifndef SPLATCORE_HAS_METAL
bool metal_built() { return false; }
int metal_device_count() { return 0; }
namespace gpu {
int metal_runtime_count() { return 0; }
Runtime& metal_runtime(int) { throw std::logic_error("metal_runtime: no Metal backend in this build"); }
bool metal_gemm(const Tensor&, const Tensor&, const Tensor&, int64_t, int64_t, int64_t, int64_t) { return false; }
std::string metal_gemm_info() { return "none (no Metal backend in this build)"; }
}  // namespace gpu
#endif

}  // namespace sc
