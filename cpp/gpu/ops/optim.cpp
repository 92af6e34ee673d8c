// Host side of the fused optimizer GPU kernels.
#include <string>

#include "gpu/kernels/optim_args.h"
#include "gpu/ops/gpu_ops.h"
#include "gpu/ops/launch.h"
#include "gpu/runtime.h"

namespace sc::gpu {

void adam_step(const Tensor& p, const Tensor& g, const Tensor& m, const Tensor& v, const AdamScalars& s) {
  Runtime& rt = runtime(p.device());
  SC_DISPATCH_FLOAT(p.dtype(), "GPU Adam", {
    using T = scalar_t;
    ScAdamArgs<T> a;
    a.p = gpu_ptr<T>(p);
    a.g = gpu_ptr<const T>(g);
    a.m = gpu_ptr<T>(m);
    a.v = gpu_ptr<T>(v);
    a.n = p.numel();
    a.beta1 = (T)s.beta1;
    a.beta2 = (T)s.beta2;
    a.eps = (T)s.eps;
    a.weight_decay = (T)s.weight_decay;
    a.decay_factor = (T)s.decay_factor;
    a.step_size = (T)s.step_size;
    a.bc2_sqrt = (T)s.bc2_sqrt;
    a.decoupled = s.decoupled;
    launch(rt, typed_kernel("adam_step", p.dtype()),
           grid_stride_groups(a.n), a, {p.storage().get(), g.storage().get(), m.storage().get(), v.storage().get()});
  });
}

void sgd_step(const Tensor& p, const Tensor& g, const Tensor& buf, const SgdScalars& s) {
  Runtime& rt = runtime(p.device());
  SC_DISPATCH_FLOAT(p.dtype(), "GPU SGD", {
    using T = scalar_t;
    ScSgdArgs<T> a;
    a.p = gpu_ptr<T>(p);
    a.g = gpu_ptr<const T>(g);
    a.buf = buf.defined() ? gpu_ptr<T>(buf) : nullptr;
    a.n = p.numel();
    a.lr = (T)s.lr;
    a.momentum = (T)s.momentum;
    a.dampening = (T)s.dampening;
    a.weight_decay = (T)s.weight_decay;
    a.nesterov = s.nesterov;
    a.has_buf = s.has_buf;
    launch(rt, typed_kernel("sgd_step", p.dtype()),
           grid_stride_groups(a.n), a, {p.storage().get(), g.storage().get(), buf.defined() ? buf.storage().get() : nullptr});
  });
}

void accumulate_grad2d(const Tensor& grad2d, const Tensor& radii, double scale_x, double scale_y,
                       const Tensor& grad_sum, const Tensor& count) {
  Runtime& rt = runtime(grad2d.device());
  const std::string name = std::string("densify_accumulate_") + dtype_suffix(grad2d.dtype(), "accumulate_grad2d") +
                           "_" + dtype_suffix(grad_sum.dtype(), "accumulate_grad2d");
  auto go = [&](auto g_tag, auto s_tag) {
    using G = decltype(g_tag);
    using S = decltype(s_tag);
    ScDensifyStatsArgs<G, S> a;
    a.grad2d = gpu_ptr<const G>(grad2d);
    a.radii = gpu_ptr<const sc_i32>(radii);
    a.grad_sum = gpu_ptr<S>(grad_sum);
    a.count = gpu_ptr<S>(count);
    a.n = grad2d.shape()[0];
    a.scale_x = (S)scale_x;
    a.scale_y = (S)scale_y;
    launch(rt, kernel(name), grid_stride_groups(a.n), a,
           {grad2d.storage().get(), radii.storage().get(), grad_sum.storage().get(), count.storage().get()});
  };
  if (grad2d.dtype() == DType::Float64)
    go(double{}, double{});
  else if (grad_sum.dtype() == DType::Float64)
    go(float{}, double{});
  else
    go(float{}, float{});
}

}  // namespace sc::gpu
