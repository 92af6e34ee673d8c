// Host side of the fused optimizer GPU kernels.
#include <string>

#include "gpu/kernels/optim_args.h"
#include "gpu/ops/gpu_ops.h"
#include "gpu/ops/launch.h"
#include "gpu/runtime.h"

namespace sc::gpu {

// The 4 x 8 storages of an Adam launch, as the launch's list (null: none).
static_assert(SC_ADAM_MAX_TENSORS == 8, "adam_steps names 4 x 8 storages");
#define SC_B4(i) b[i], b[i + 1], b[i + 2], b[i + 3]

void adam_steps(const std::vector<AdamJob>& jobs) {
  for (size_t first = 0; first < jobs.size();) {
    const Device dev = jobs[first].p.device();
    const DType dt = jobs[first].p.dtype();
    size_t last = first + 1;  // [first, last): one launch
    while (last < jobs.size() && last - first < SC_ADAM_MAX_TENSORS && jobs[last].p.device() == dev &&
           jobs[last].p.dtype() == dt && jobs[last].s.decoupled == jobs[first].s.decoupled)
      ++last;
    Runtime& rt = runtime(dev);
    SC_DISPATCH_FLOAT(dt, "GPU Adam", {
      using T = scalar_t;
      ScAdamMultiArgs<T> a{};
      const Storage* b[4 * SC_ADAM_MAX_TENSORS] = {};  // the storages touched (null: none)
      a.start[0] = 0;
      for (size_t j = first; j < last; ++j) {
        const AdamJob& job = jobs[j];
        const int k = (int)(j - first);
        a.p[k] = gpu_ptr<T>(job.p);
        a.g[k] = gpu_ptr<const T>(job.g);
        a.m[k] = gpu_ptr<T>(job.m);
        a.v[k] = gpu_ptr<T>(job.v);
        a.start[k + 1] = a.start[k] + job.p.numel();
        a.beta1[k] = (T)job.s.beta1;
        a.beta2[k] = (T)job.s.beta2;
        a.eps[k] = (T)job.s.eps;
        a.weight_decay[k] = (T)job.s.weight_decay;
        a.decay_factor[k] = (T)job.s.decay_factor;
        a.step_size[k] = (T)job.s.step_size;
        a.bc2_sqrt[k] = (T)job.s.bc2_sqrt;
        b[4 * k] = job.p.storage().get();
        b[4 * k + 1] = job.g.storage().get();
        b[4 * k + 2] = job.m.storage().get();
        b[4 * k + 3] = job.v.storage().get();
      }
      a.count = (sc_i32)(last - first);
      a.decoupled = jobs[first].s.decoupled;
      launch(rt, typed_kernel("adam_multi_step", dt), grid_stride_groups(a.start[a.count]), a,
             {SC_B4(0), SC_B4(4), SC_B4(8), SC_B4(12), SC_B4(16), SC_B4(20), SC_B4(24), SC_B4(28)});
    });
    first = last;
  }
}

#undef SC_B4

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
