// Vendor GEMMs: cuBLAS on CUDA (opened at run time: gpu/cuda/cublas.cpp), MPS
// on Metal (MPSMatrixMultiplication, float32 / float16: gpu/metal/mps_gemm.cpp).
// Returns false where none applies (the simulator, no cuBLAS found, a dtype
// or layout it does not take), and the caller runs the tiled kernel.
#pragma once
#include <cstdint>
#include <string>

#include "core/tensor.h"

namespace sc::gpu {

// c[b] = a[b] @ b[b] for contiguous (nb, M, K) x (nb, K, N) on one device.
bool vendor_gemm(const Tensor& c, const Tensor& a, const Tensor& b, int64_t nb, int64_t M, int64_t N,
                 int64_t K);

// c += a @ b for one (M, K) x (K, N) product, c's rows ldc apart (cuBLAS only).
bool vendor_gemm_accumulate(const Tensor& c, const Tensor& a, const Tensor& b, int64_t M, int64_t N, int64_t K,
                            int64_t ldc);

// float32 GEMM precision: "highest" (IEEE float32, the default), "high" (TF32
// tensor cores on CUDA) or "medium" (bfloat16 tensor cores on CUDA, float32
// accumulation), as torch.set_float32_matmul_precision.
void set_matmul_precision(const std::string& p);
std::string matmul_precision();
// Whether float32 products may leave IEEE float32 ("high" or "medium"): the
// attention kernels then take TF32 matrix units too.
bool matmul_allows_tf32();
// What the vendor library is ("cuBLAS (libcublas.so.13)", "MPS: MPSMatrixMultiplication
// (MetalPerformanceShaders)"), or why it is not there.
std::string vendor_gemm_info();

}  // namespace sc::gpu
