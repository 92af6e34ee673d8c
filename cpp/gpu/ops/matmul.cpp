// Host side of GPU matmul: a vendor GEMM where the backend has one (cuBLAS on
// CUDA, MPS on Metal, through gpu/vendor_gemm.h), the tiled kernel otherwise.
#include <string>

#include "gpu/kernels/elementwise_args.h"
#include "gpu/kernels/gemm_args.h"
#include "gpu/ops/gpu_ops.h"
#include "gpu/ops/launch.h"
#include "gpu/runtime.h"
#include "gpu/vendor_gemm.h"

namespace sc::gpu {

void batched_matmul(const Tensor& c, const Tensor& a, const Tensor& b) {
  const int64_t nb = a.shape()[0], M = a.shape()[1], K = a.shape()[2], N = b.shape()[2];
  if (nb == 0 || M == 0 || N == 0) return;
  if (K == 0) {
    fill(c, 0.0);
    return;
  }
  if (vendor_gemm(c, a, b, nb, M, N, K)) return;
  if (is_half(c.dtype())) {  // no vendor GEMM for it: the tiled kernel in float32
    Tensor c32 = Tensor::empty(c.shape(), DType::Float32, c.device());
    batched_matmul(c32, a.to(DType::Float32), b.to(DType::Float32));
    copy(c, c32);
    return;
  }
  Runtime& rt = runtime(c.device());
  SC_DISPATCH_FLOAT(c.dtype(), "GPU matmul", {
    ScGemmArgs<scalar_t> args;
    args.a = gpu_ptr<const scalar_t>(a);
    args.b = gpu_ptr<const scalar_t>(b);
    args.c = gpu_ptr<scalar_t>(c);
    args.M = M;
    args.N = N;
    args.K = K;
    LaunchDims d;
    d.group.x = d.group.y = 16;
    d.grid.x = (uint32_t)((N + 15) / 16);
    d.grid.y = (uint32_t)((M + 15) / 16);
    d.grid.z = (uint32_t)nb;
    launch(rt, typed_kernel("gemm_tiled", c.dtype()), d, args,
           {a.storage().get(), b.storage().get(), c.storage().get()});
  });
}

void matmul_accumulate(const Tensor& out, const Tensor& a, const Tensor& b) {
  const int64_t M = a.shape()[0], K = a.shape()[1], N = b.shape()[1];
  if (out.ndim() != 2 || out.shape()[0] != M || out.shape()[1] != N || b.shape()[0] != K ||
      !a.is_contiguous() || !b.is_contiguous() || (N > 1 && out.strides()[1] != 1) ||
      a.dtype() != out.dtype() || b.dtype() != out.dtype())
    throw ValueError("matmul_accumulate: expected out (M, N) with contiguous rows += a (M, K) @ b (K, N), "
                     "a and b contiguous, one dtype");
  if (M == 0 || N == 0 || K == 0) return;
  const int64_t ldc = M > 1 ? out.strides()[0] : N;
  if (vendor_gemm_accumulate(out, a, b, M, N, K, ldc)) return;
  Tensor t = Tensor::empty({1, M, N}, out.dtype(), out.device());
  batched_matmul(t, a.reshape({1, M, K}), b.reshape({1, K, N}));
  Tensor t2 = t.reshape({M, N});
  binary(SC_BIN_ADD, out, out, t2);
}

}  // namespace sc::gpu
