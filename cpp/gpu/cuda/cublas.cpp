// cuBLAS, opened at run time (so a machine without it still imports
// splatcore): SPLATCORE_CUBLAS names the library file, else the sonames of
// CUDA 13 and 12 (the Python package sets SPLATCORE_CUBLAS to the nvidia-cublas
// wheel's copy when that is installed). Row-major C = A B is computed as the
// column-major C^T = B^T A^T, so no operand is transposed.
#include <cuda_runtime.h>
#include <dlfcn.h>

#include <cstdlib>
#include <mutex>
#include <string>

#include "core/profile.h"
#include "gpu/backend_hooks.h"

namespace sc::gpu {

namespace {

// The few cuBLAS types and constants used here, as the cuBLAS documentation
// gives them (cublas_api.h is not part of every CUDA install, e.g. CI's).
using cublasHandle_t = struct cublasContext*;
using cublasStatus_t = int;
using cublasOperation_t = int;
using cublasComputeType_t = int;
using cublasGemmAlgo_t = int;
constexpr cublasStatus_t CUBLAS_STATUS_SUCCESS = 0;
constexpr cublasOperation_t CUBLAS_OP_N = 0;
constexpr cublasComputeType_t CUBLAS_COMPUTE_32F = 68, CUBLAS_COMPUTE_32F_FAST_TF32 = 77,
                              CUBLAS_COMPUTE_32F_FAST_16BF = 75,
                              CUBLAS_COMPUTE_64F = 70;
constexpr cublasGemmAlgo_t CUBLAS_GEMM_DEFAULT = -1;

using CreateFn = cublasStatus_t (*)(cublasHandle_t*);
using SetStreamFn = cublasStatus_t (*)(cublasHandle_t, cudaStream_t);
using GemmFn = cublasStatus_t (*)(cublasHandle_t, cublasOperation_t, cublasOperation_t, int, int, int,
                                  const void*, const void*, cudaDataType, int, long long, const void*,
                                  cudaDataType, int, long long, const void*, void*, cudaDataType, int,
                                  long long, int, cublasComputeType_t, cublasGemmAlgo_t);
using VersionFn = cublasStatus_t (*)(cublasHandle_t, int*);

struct Cublas {
  void* lib = nullptr;
  std::string path, error;
  CreateFn create = nullptr;
  SetStreamFn set_stream = nullptr;
  GemmFn gemm = nullptr;
  VersionFn version = nullptr;
  cublasHandle_t handle[16] = {};
  std::mutex mu;
};

Cublas& cublas() {
  static Cublas* c = [] {
    auto* c = new Cublas();
    std::string tried;
    const char* env = std::getenv("SPLATCORE_CUBLAS");
    for (const char* name : {env, "libcublas.so.13", "libcublas.so.12", "libcublas.so"}) {
      if (!name || !*name) continue;
      c->lib = dlopen(name, RTLD_NOW | RTLD_LOCAL);
      if (c->lib) {
        c->path = name;
        break;
      }
      tried += std::string(tried.empty() ? "" : ", ") + name;
    }
    if (!c->lib) {
      c->error = "not found (tried " + tried + "; pip install splatcore[cuda] or set SPLATCORE_CUBLAS)";
      return c;
    }
    c->create = (CreateFn)dlsym(c->lib, "cublasCreate_v2");
    c->set_stream = (SetStreamFn)dlsym(c->lib, "cublasSetStream_v2");
    c->gemm = (GemmFn)dlsym(c->lib, "cublasGemmStridedBatchedEx");
    c->version = (VersionFn)dlsym(c->lib, "cublasGetVersion_v2");
    if (!c->create || !c->set_stream || !c->gemm) {
      c->error = c->path + " lacks cublasCreate_v2 / cublasSetStream_v2 / cublasGemmStridedBatchedEx";
      c->lib = nullptr;
    }
    return c;
  }();
  return *c;
}

cublasHandle_t handle_for(Cublas& c, Runtime& rt, int index) {
  std::lock_guard<std::mutex> lock(c.mu);
  if (index < 0 || index >= 16) return nullptr;
  if (!c.handle[index]) {
    if (c.create(&c.handle[index]) != CUBLAS_STATUS_SUCCESS) return nullptr;
    c.set_stream(c.handle[index], reinterpret_cast<cudaStream_t>(rt.queue_handle()));
  }
  return c.handle[index];
}

}  // namespace

std::string cublas_info() {
  Cublas& c = cublas();
  if (!c.lib) return "cuBLAS " + c.error;
  return "cuBLAS (" + c.path + ")";
}

bool cublas_gemm(const Tensor& C, const Tensor& A, const Tensor& B, int64_t nb, int64_t M, int64_t N,
                 int64_t K, int fp32_mode, int64_t ldc, bool accumulate) {
  Cublas& c = cublas();
  if (!c.lib) return false;
  if (ldc < 0) ldc = N;
  if (M > INT32_MAX || N > INT32_MAX || K > INT32_MAX || nb > INT32_MAX || ldc > INT32_MAX) return false;
  cudaDataType io;
  cublasComputeType_t compute;
  switch (C.dtype()) {
    case DType::Float32:
      io = CUDA_R_32F;
      compute = fp32_mode == 2   ? CUBLAS_COMPUTE_32F_FAST_16BF
                : fp32_mode == 1 ? CUBLAS_COMPUTE_32F_FAST_TF32
                                 : CUBLAS_COMPUTE_32F;
      break;
    case DType::Float64: io = CUDA_R_64F; compute = CUBLAS_COMPUTE_64F; break;
    case DType::BFloat16: io = CUDA_R_16BF; compute = CUBLAS_COMPUTE_32F; break;
    case DType::Float16: io = CUDA_R_16F; compute = CUBLAS_COMPUTE_32F; break;
    default: return false;
  }
  Runtime& rt = runtime(C.device());
  cublasHandle_t h = handle_for(c, rt, C.device().index);
  if (!h) return false;
  const double one64 = 1.0, beta64 = accumulate ? 1.0 : 0.0;
  const float one32 = 1.0f, beta32 = accumulate ? 1.0f : 0.0f;
  const void* alpha = compute == CUBLAS_COMPUTE_64F ? (const void*)&one64 : (const void*)&one32;
  const void* beta = compute == CUBLAS_COMPUTE_64F ? (const void*)&beta64 : (const void*)&beta32;
  // SPLATCORE_PROFILE: the GEMM's time alone on the GPU, as the kernels' (stage gpu.cublas_gemm)
  const bool timed = stage_timing_enabled();
  double t0 = 0;
  if (timed) {
    rt.synchronize();
    t0 = stage_clock();
  }
  count_launch();
  cublasStatus_t s = c.gemm(h, CUBLAS_OP_N, CUBLAS_OP_N, (int)N, (int)M, (int)K, alpha, gpu_address(B), io,
                            (int)N, (long long)(K * N), gpu_address(A), io, (int)K, (long long)(M * K), beta,
                            gpu_address(C), io, (int)ldc, (long long)(M * ldc), (int)nb, compute,
                            CUBLAS_GEMM_DEFAULT);
  if (s != CUBLAS_STATUS_SUCCESS)
    throw std::runtime_error("cuda: cublasGemmStridedBatchedEx failed with status " + std::to_string((int)s));
  if (timed) {
    rt.synchronize();
    add_stage_time(compute == CUBLAS_COMPUTE_32F_FAST_TF32   ? "gpu.cublas_gemm_tf32"
                   : compute == CUBLAS_COMPUTE_32F_FAST_16BF ? "gpu.cublas_gemm_bf16"
                                                             : "gpu.cublas_gemm",
                   stage_clock() - t0);
  }
  return true;
}

}  // namespace sc::gpu
