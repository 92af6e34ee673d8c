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

// Densification statistics (splat/densify_stats.h): grad2d (n, 2) in G, the sums
// and counts (n,) in S, updated in place where radii (n, 2) are not both 0.
template <typename G, typename S>
struct ScDensifyStatsArgs {
  SC_PTR(const G) grad2d;
  SC_PTR(const sc_i32) radii;
  SC_PTR(S) grad_sum;
  SC_PTR(S) count;
  sc_i64 n;
  S scale_x, scale_y;
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
