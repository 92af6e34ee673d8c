#include "gpu/vendor_gemm.h"

#include <atomic>

#include "core/errors.h"
#include "gpu/backend_hooks.h"

namespace sc::gpu {

// float32 GEMMs: 0 IEEE float32, 1 TF32, 2 bfloat16 tensor cores (float32 accumulation)
static std::atomic<int> g_fp32_mode{0};

void set_matmul_precision(const std::string& p) {
  if (p != "highest" && p != "high" && p != "medium")
    throw ValueError("set_matmul_precision: precision: expected 'highest', 'high' or 'medium', got '" + p + "'");
  g_fp32_mode = p == "highest" ? 0 : p == "high" ? 1 : 2;
}

std::string matmul_precision() {
  const int m = g_fp32_mode;
  return m == 0 ? "highest" : m == 1 ? "high" : "medium";
}

bool matmul_allows_tf32() { return g_fp32_mode != 0; }

bool vendor_gemm(const Tensor& c, const Tensor& a, const Tensor& b, int64_t nb, int64_t M, int64_t N,
                 int64_t K) {
  if (c.device().type == DeviceType::CUDA) return cublas_gemm(c, a, b, nb, M, N, K, g_fp32_mode);
  if (c.device().type == DeviceType::Metal) return metal_gemm(c, a, b, nb, M, N, K);  // "high" / "medium" change nothing there
  return false;
}

bool vendor_gemm_accumulate(const Tensor& c, const Tensor& a, const Tensor& b, int64_t M, int64_t N, int64_t K,
                            int64_t ldc) {
  if (c.device().type == DeviceType::CUDA) return cublas_gemm(c, a, b, 1, M, N, K, g_fp32_mode, ldc, true);
  return false;
}

std::string vendor_gemm_info() {
  if (metal_built()) return metal_gemm_info();
  return cuda_built() ? cublas_info() : "none (no CUDA backend in this build)";
}

}  // namespace sc::gpu
