// Fused optimizer steps on the GPU: one thread per element over the update
// bodies of kernels/optim.h, which the CPU runs too.
#pragma once
#include "gpu/kernels/optim_args.h"
#include "kernels/optim.h"

#define SC_OPTIM_KERNELS(SUF, T)                                                            \
  SC_KERNEL(adam_step_##SUF, ScAdamArgs<T>) {                                              \
    for (sc_i64 i = (sc_i64)SC_GID_X * SC_GSIZE_X + SC_TID_X; i < args.n;                   \
         i += (sc_i64)SC_NGROUPS_X * SC_GSIZE_X)                                           \
      sc_adam_update<T, sc_i64>(i, args.p, args.g, args.m, args.v, args.beta1, args.beta2, \
                                args.eps, args.weight_decay, args.decay_factor,            \
                                args.step_size, args.bc2_sqrt, args.decoupled);            \
  }                                                                                        \
  SC_KERNEL(sgd_step_##SUF, ScSgdArgs<T>) {                                                \
    for (sc_i64 i = (sc_i64)SC_GID_X * SC_GSIZE_X + SC_TID_X; i < args.n;                   \
         i += (sc_i64)SC_NGROUPS_X * SC_GSIZE_X)                                           \
      sc_sgd_update<T, sc_i64>(i, args.p, args.g, args.buf, args.lr, args.momentum,        \
                               args.dampening, args.weight_decay, args.nesterov, args.has_buf); \
  }
SC_GPU_FOR_FLOATS(SC_OPTIM_KERNELS)
