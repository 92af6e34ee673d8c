// Argument structs of the fused optimizer GPU kernels (gpu/kernels/optim.h).
// Hyper-parameters and bias corrections are computed once per tensor on the host.
#pragma once
#include "gpu/dialect.h"

template <typename T>
struct ScAdamArgs {
  SC_PTR(T) p;
  SC_PTR(const T) g;
  SC_PTR(T) m;
  SC_PTR(T) v;
  sc_i64 n;
  T beta1, beta2, eps, weight_decay, decay_factor, step_size, bc2_sqrt;
  sc_i32 decoupled;
};

template <typename T>
struct ScSgdArgs {
  SC_PTR(T) p;
  SC_PTR(const T) g;
  SC_PTR(T) buf;  // null without momentum
  sc_i64 n;
  T lr, momentum, dampening, weight_decay;
  sc_i32 nesterov, has_buf;
};
