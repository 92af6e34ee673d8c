#include "gpu/vendor_gemm.h"

#include <atomic>

#include "core/errors.h"
#include "gpu/backend_hooks.h"

namespace sc::gpu {

static std::atomic<bool> g_tf32{false};

void set_matmul_precision(const std::string& p) {
  if (p != "highest" && p != "high")
    throw ValueError("set_matmul_precision: expected 'highest' or 'high', got '" + p + "'");
  g_tf32 = p == "high";
}

std::string matmul_precision() { return g_tf32 ? "high" : "highest"; }

bool vendor_gemm(const Tensor& c, const Tensor& a, const Tensor& b, int64_t nb, int64_t M, int64_t N,
                 int64_t K) {
  if (c.device().type == DeviceType::CUDA) return cublas_gemm(c, a, b, nb, M, N, K, g_tf32);
  if (c.device().type == DeviceType::Metal) return metal_gemm(c, a, b, nb, M, N, K);  // "high" changes nothing there
  return false;
}

bool vendor_gemm_accumulate(const Tensor& c, const Tensor& a, const Tensor& b, int64_t M, int64_t N, int64_t K,
                            int64_t ldc) {
  if (c.device().type == DeviceType::CUDA) return cublas_gemm(c, a, b, 1, M, N, K, g_tf32, ldc, true);
  return false;
}

std::string vendor_gemm_info() {
  if (metal_built()) return metal_gemm_info();
  return cuda_built() ? cublas_info() : "none (no CUDA backend in this build)";
}

}  // namespace sc::gpu
