// Host side of GPU matmul: a vendor GEMM where the backend has one (cuBLAS on
// CUDA, MPS on Metal, through gpu/vendor_gemm.h), the tiled kernel otherwise.
#include <string>

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

}  // namespace sc::gpu
