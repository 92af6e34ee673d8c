// Host side of the SSIM GPU kernels (gpu/kernels/ssim.h).
#include <string>

#include "gpu/kernels/ssim_args.h"
#include "gpu/ops/gpu_ops.h"
#include "gpu/ops/launch.h"
#include "gpu/runtime.h"
#include "kernels/ssim.h"

namespace sc::gpu {

namespace {

template <typename T>
ScSsimArgs<T> ssim_args(const Tensor& x, const Tensor& y, const SsimShape& s) {
  ScSsimArgs<T> a{};
  a.x = gpu_ptr<const T>(x);
  a.y = gpu_ptr<const T>(y);
  a.B = s.B, a.H = s.H, a.W = s.W, a.C = s.C;
  sc_ssim_window<T>(a.w);
  a.inv_n = T(1) / T(s.B * s.H * s.W * s.C);
  a.lambda = T(s.loss_lambda);
  return a;
}



}  // namespace

void ssim_map(const Tensor& x, const Tensor& y, const SsimShape& s, const Tensor& map, const Tensor& partials) {
  Runtime& rt = runtime(x.device());
  const int64_t n = x.numel();
  Tensor planes = Tensor::empty({5, n}, x.dtype(), x.device());
  SC_DISPATCH_FLOAT(x.dtype(), "GPU ssim", {
    ScSsimArgs<scalar_t> a = ssim_args<scalar_t>(x, y, s);
    a.planes = gpu_ptr<scalar_t>(planes);
    a.out = gpu_ptr<scalar_t>(map);
    a.want_partials = partials.defined();
    a.out2 = partials.defined() ? gpu_ptr<scalar_t>(partials) : nullptr;
    std::initializer_list<const Storage*> bufs = {x.storage().get(), y.storage().get(), planes.storage().get(),
                                                  map.storage().get(),
                                                  partials.defined() ? partials.storage().get() : nullptr};
    launch(rt, typed_kernel("ssim_hblur", x.dtype()), groups_for(n), a, bufs);
    launch(rt, typed_kernel("ssim_vblur", x.dtype()), groups_for(n), a, bufs);
  });
}

void ssim_grad(const Tensor& x, const Tensor& y, const SsimShape& s, const Tensor& partials,
               const Tensor& grad, const Tensor& dx, const Tensor& dy) {
  Runtime& rt = runtime(x.device());
  const int64_t n = x.numel();
  Tensor planes = Tensor::empty({4, n}, x.dtype(), x.device());
  SC_DISPATCH_FLOAT(x.dtype(), "GPU ssim backward", {
    ScSsimArgs<scalar_t> a = ssim_args<scalar_t>(x, y, s);
    a.planes = gpu_ptr<scalar_t>(planes);
    a.partials = gpu_ptr<const scalar_t>(partials);
    a.grad = gpu_ptr<const scalar_t>(grad);
    a.want_dx = dx.defined();
    a.want_dy = dy.defined();
    a.out = dx.defined() ? gpu_ptr<scalar_t>(dx) : nullptr;
    a.out2 = dy.defined() ? gpu_ptr<scalar_t>(dy) : nullptr;
    std::initializer_list<const Storage*> bufs = {x.storage().get(), y.storage().get(), planes.storage().get(),
                                                  partials.storage().get(), grad.storage().get(),
                                                  dx.defined() ? dx.storage().get() : nullptr,
                                                  dy.defined() ? dy.storage().get() : nullptr};
    launch(rt, typed_kernel("ssim_grad_hblur", x.dtype()), groups_for(n), a, bufs);
    launch(rt, typed_kernel("ssim_grad_vblur", x.dtype()), groups_for(n), a, bufs);
  });
}

}  // namespace sc::gpu
