// The optimizer updates for one CPU target (core/target_unit.h; the interface
// is optim/optim_kernels.h): plain loops over the per-element bodies of
// kernels/optim.h, vectorised by the compiler for the target's registers. The
// pointers and hyper-parameters come in as arguments (a loop reading them
// from a lambda's captures did not vectorise).
#include "core/target_unit.h"

#include "kernels/optim.h"
#include "optim/optim_kernels.h"

namespace {

template <typename T>
void adam(int64_t b, int64_t e, T* p, const T* g, T* m, T* v, T beta1, T beta2, T eps, T weight_decay,
          T decay_factor, T step_size, T bc2_sqrt, int decoupled) {
  for (int64_t i = b; i < e; ++i)
    sc_adam_update<T, int64_t>(i, p, g, m, v, beta1, beta2, eps, weight_decay, decay_factor, step_size,
                               bc2_sqrt, decoupled);
}

template <typename T>
void sgd(int64_t b, int64_t e, T* p, const T* g, T* buf, T lr, T momentum, T dampening, T weight_decay,
         int nesterov, int has_buf) {
  for (int64_t i = b; i < e; ++i)
    sc_sgd_update<T, int64_t>(i, p, g, buf, lr, momentum, dampening, weight_decay, nesterov, has_buf);
}

const sc::OptimTables kTables = {SC_TARGET_STRING, {&adam<float>, &sgd<float>}, {&adam<double>, &sgd<double>}};

}  // namespace

namespace sc {
const OptimTables& SC_TARGET_TABLE(optim_kernels)() { return kTables; }
}  // namespace sc
