// Argument structs of the fused optimizer GPU kernels (gpu/kernels/optim.h).
// Hyper-parameters and bias corrections are computed once per tensor on the host.
#pragma once
#include "gpu/dialect.h"

// Adam over up to SC_ADAM_MAX_TENSORS tensors in one launch (a training step's
// parameter groups): tensor k holds elements [start[k], start[k + 1]) of the
// launch's range, with its own hyper-parameters and bias corrections.
#define SC_ADAM_MAX_TENSORS 8
template <typename T>
struct ScAdamMultiArgs {
  SC_PTR(T) p[SC_ADAM_MAX_TENSORS];
  SC_PTR(const T) g[SC_ADAM_MAX_TENSORS];
  SC_PTR(T) m[SC_ADAM_MAX_TENSORS];
  SC_PTR(T) v[SC_ADAM_MAX_TENSORS];
  sc_i64 start[SC_ADAM_MAX_TENSORS + 1];
  T beta1[SC_ADAM_MAX_TENSORS], beta2[SC_ADAM_MAX_TENSORS], eps[SC_ADAM_MAX_TENSORS];
  T weight_decay[SC_ADAM_MAX_TENSORS], decay_factor[SC_ADAM_MAX_TENSORS], step_size[SC_ADAM_MAX_TENSORS];
  T bc2_sqrt[SC_ADAM_MAX_TENSORS];
  sc_i32 count, decoupled;
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
