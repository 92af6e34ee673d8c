// Optimizer::step: one fused pass per parameter tensor over the bodies in
// kernels/optim.h, split across the thread pool; the loops are those of the
// CPU target in use (optim/optim_kernels.h, optim/optim_target.cpp).
#include <cmath>

#include "core/profile.h"
#include "core/thread_pool.h"
#include "core/writable.h"
#include "gpu/ops/gpu_ops.h"
#include "optim/optim_kernels.h"
#include "optim/optimizer.h"

namespace sc {

SC_TARGET_DISPATCH(OptimTables, optim_kernels)

static constexpr int64_t kGrain = 1 << 14;  // elements per chunk

template <typename T>
static void adam_tensor(const ParamGroup& g, const Tensor& p, const Tensor& grad, ParamState& s,
                        bool decoupled, std::vector<gpu::AdamJob>& gpu_jobs) {
  int64_t n = p.numel();
  // Bias corrections of Kingma & Ba 2015 Alg. 1 (with the step count of this
  // parameter), computed once per tensor in double.
  double t = (double)s.step;
  double bc1 = 1.0 - std::pow(g.beta1, t);
  double bc2 = 1.0 - std::pow(g.beta2, t);
  if (p.device().is_gpu()) {  // queued with the step's other GPU tensors: one launch for several
    gpu_jobs.push_back({p, grad, s.exp_avg, s.exp_avg_sq,
                        {g.beta1, g.beta2, g.eps, g.weight_decay, 1.0 - g.lr * g.weight_decay, g.lr / bc1,
                         std::sqrt(bc2), decoupled ? 1 : 0}});
    return;
  }
  T step_size = (T)(g.lr / bc1);
  T bc2_sqrt = (T)std::sqrt(bc2);
  T decay = (T)(1.0 - g.lr * g.weight_decay);
  T b1 = (T)g.beta1, b2 = (T)g.beta2, eps = (T)g.eps, wd = (T)g.weight_decay;
  T* pp = p.data<T>();
  const T* gp = grad.data<T>();
  T* m = s.exp_avg.data<T>();
  T* v = s.exp_avg_sq.data<T>();
  int dec = decoupled ? 1 : 0;
  const auto adam = optim_kernels_of<T>().adam;
  parallel_for(n, kGrain, [=](int64_t b, int64_t e) {
    adam(b, e, pp, gp, m, v, b1, b2, eps, wd, decay, step_size, bc2_sqrt, dec);
  });
}

template <typename T>
static void sgd_tensor(const ParamGroup& g, const Tensor& p, const Tensor& grad, ParamState& s) {
  int64_t n = p.numel();
  int has_buf = 0;
  T* buf = nullptr;
  if (g.momentum != 0.0) {
    if (s.momentum_buffer.defined()) {
      has_buf = 1;
    } else {
      s.momentum_buffer = Tensor::empty(p.shape(), p.dtype(), p.device());  // written on this step
    }
    if (p.device().is_gpu()) {
      gpu::sgd_step(p, grad, s.momentum_buffer,
                    {g.lr, g.momentum, g.dampening, g.weight_decay, g.nesterov ? 1 : 0, has_buf});
      return;
    }
    buf = s.momentum_buffer.data<T>();
  }
  if (p.device().is_gpu()) {
    gpu::sgd_step(p, grad, Tensor(), {g.lr, g.momentum, g.dampening, g.weight_decay, g.nesterov ? 1 : 0, 0});
    return;
  }
  T* pp = p.data<T>();
  const T* gp = grad.data<T>();
  T lr = (T)g.lr, mom = (T)g.momentum, damp = (T)g.dampening, wd = (T)g.weight_decay;
  int nest = g.nesterov ? 1 : 0;
  const auto sgd = optim_kernels_of<T>().sgd;
  parallel_for(n, kGrain, [=](int64_t b, int64_t e) { sgd(b, e, pp, gp, buf, lr, mom, damp, wd, nest, has_buf); });
}

void Optimizer::update(const ParamGroup& g, const Tensor& p, const Tensor& grad, ParamState& s,
                       std::vector<gpu::AdamJob>& gpu_jobs) {
  s.step += 1;
  if (kind_ == OptimKind::SGD) {
    SC_DISPATCH_FLOAT(p.dtype(), "SGD.step", sgd_tensor<scalar_t>(g, p, grad, s));
    return;
  }
  if (!s.exp_avg.defined()) s.exp_avg = Tensor::zeros(p.shape(), p.dtype(), p.device());
  if (!s.exp_avg_sq.defined()) s.exp_avg_sq = Tensor::zeros(p.shape(), p.dtype(), p.device());
  bool decoupled = kind_ == OptimKind::AdamW;
  SC_DISPATCH_FLOAT(p.dtype(), name(), adam_tensor<scalar_t>(g, p, grad, s, decoupled, gpu_jobs));
}

void Optimizer::step() {
  SC_STAGE("optim.step");
  std::vector<gpu::AdamJob> gpu_jobs;  // Adam on GPU tensors: launched together at the end
  try {
    step_tensors(gpu_jobs);
  } catch (...) {
    gpu::adam_steps(gpu_jobs);  // the tensors before the bad one are updated, as on the CPU
    throw;
  }
  gpu::adam_steps(gpu_jobs);
}

void Optimizer::step_tensors(std::vector<gpu::AdamJob>& gpu_jobs) {
  for (size_t gi = 0; gi < groups_.size(); ++gi) {
    ParamGroup& g = *groups_[gi];
    // Hyper-parameters may have been changed from Python since the group was added.
    check_group_hyper(kind_, g);
    for (size_t pi = 0; pi < g.params.size(); ++pi) {
      const Tensor& p = g.params[pi];
      Tensor grad = p.grad();
      if (!grad.defined()) continue;  // no gradient this step: untouched, like torch
      std::string what = std::string(name()) + ".step: parameter " + std::to_string(pi) + " of " +
                         (g.name.empty() ? "group " + std::to_string(gi) : "group '" + g.name + "'");
      if (grad.shape() != p.shape())
        throw ValueError(what + ": its gradient has shape " + shape_str(grad.shape()) +
                         ", expected the parameter's shape " + shape_str(p.shape()));
      if (p.numel() == 0) continue;
      check_writable(p, what.c_str());
      grad = grad.detach();
      if (grad.device() != p.device())
        throw ValueError(what + ": its gradient is on " + grad.device().str() + ", the parameter on " +
                         p.device().str());
      if (grad.dtype() != p.dtype()) grad = grad.to(p.dtype());
      grad = grad.contiguous();
      update(g, p, grad, g.state[pi], gpu_jobs);
    }
  }
}

}  // namespace sc
