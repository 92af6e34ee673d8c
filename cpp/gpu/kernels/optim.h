// Fused optimizer steps on the GPU: one thread per element over the update
// bodies of kernels/optim.h, which the CPU runs too (adam_multi_step: several
// tensors in one launch, each element finding its tensor among <= 8 starts); and the densification
// statistics, one thread per Gaussian (here for this unit's build flags: no
// contraction into FMAs, so the sums round as the CPU's).
#pragma once
#include "gpu/kernels/optim_args.h"
#include "kernels/optim.h"

#define SC_OPTIM_KERNELS(SUF, T)                                                            \
  SC_KERNEL(adam_multi_step_##SUF, ScAdamMultiArgs<T>) {                                   \
    const sc_i64 total = args.start[args.count];                                           \
    for (sc_i64 i = (sc_i64)SC_GID_X * SC_GSIZE_X + SC_TID_X; i < total;                   \
         i += (sc_i64)SC_NGROUPS_X * SC_GSIZE_X) {                                         \
      int k = 0;                                                                           \
      while (k + 1 < args.count && i >= args.start[k + 1]) ++k;                            \
      sc_adam_update<T, sc_i64>(i - args.start[k], args.p[k], args.g[k], args.m[k], args.v[k], \
                                args.beta1[k], args.beta2[k], args.eps[k], args.weight_decay[k], \
                                args.decay_factor[k], args.step_size[k], args.bc2_sqrt[k], \
                                args.decoupled);                                           \
    }                                                                                      \
  }                                                                                        \
  SC_KERNEL(sgd_step_##SUF, ScSgdArgs<T>) {                                                \
    for (sc_i64 i = (sc_i64)SC_GID_X * SC_GSIZE_X + SC_TID_X; i < args.n;                   \
         i += (sc_i64)SC_NGROUPS_X * SC_GSIZE_X)                                           \
      sc_sgd_update<T, sc_i64>(i, args.p, args.g, args.buf, args.lr, args.momentum,        \
                               args.dampening, args.weight_decay, args.nesterov, args.has_buf); \
  }
SC_GPU_FOR_FLOATS(SC_OPTIM_KERNELS)

// grad_sum[i] += |(g[i,0] scale_x, g[i,1] scale_y)| and count[i] += 1 for each
// Gaussian seen in the view (radii not both 0); sums in S.
#define SC_DENSIFY_STATS_KERNEL(SUF, G, S)                                                  \
  typedef ScDensifyStatsArgs<G, S> ScDensifyStatsArgs_##SUF;                                \
  SC_KERNEL(densify_accumulate_##SUF, ScDensifyStatsArgs_##SUF) {                           \
    for (sc_i64 i = (sc_i64)SC_GID_X * SC_GSIZE_X + SC_TID_X; i < args.n;                   \
         i += (sc_i64)SC_NGROUPS_X * SC_GSIZE_X) {                                          \
      if (args.radii[2 * i] <= 0 && args.radii[2 * i + 1] <= 0) continue;                  \
      const S gx = S(args.grad2d[2 * i]) * args.scale_x, gy = S(args.grad2d[2 * i + 1]) * args.scale_y; \
      args.grad_sum[i] += sqrt(gx * gx + gy * gy);                                          \
      args.count[i] += S(1);                                                                \
    }                                                                                       \
  }
SC_DENSIFY_STATS_KERNEL(f32_f32, float, float)
#if SC_GPU_HAS_FLOAT64
SC_DENSIFY_STATS_KERNEL(f32_f64, float, double)
SC_DENSIFY_STATS_KERNEL(f64_f64, double, double)
#endif
