// The optimizer updates over a range of elements (the bodies of kernels/optim.h
// in a loop), compiled once per CPU target (optim/optim_target.cpp) and chosen
// at run time (core/cpu_target.h). Optimizer::step (optim/step.cpp) splits a
// tensor into ranges over the thread pool.
//
// Every copy is built with -ffp-contract=off (cmake/cpu_targets.cmake), so the
// AVX2 and AVX-512 copies round each product and sum as the portable one does
// and all give the same bits. The GPU simulator's copy of the same bodies
// (gpu/kernels/optim.h) is built without contraction too (CMakeLists.txt), so
// a parameter trained on "sim" gets the CPU's bits.
#pragma once
#include <cstdint>

#include "core/cpu_target.h"

namespace sc {

template <typename T>
struct OptimKernels {
  // sc_adam_update for i in [b, e)
  void (*adam)(int64_t b, int64_t e, T* p, const T* g, T* m, T* v, T beta1, T beta2, T eps,
               T weight_decay, T decay_factor, T step_size, T bc2_sqrt, int decoupled);
  // sc_sgd_update for i in [b, e)
  void (*sgd)(int64_t b, int64_t e, T* p, const T* g, T* buf, T lr, T momentum, T dampening,
              T weight_decay, int nesterov, int has_buf);
};

struct OptimTables {
  const char* target;  // SC_TARGET_NAME of the copy (tests check the dispatch)
  OptimKernels<float> f32;
  OptimKernels<double> f64;
};

// The target in use.
const OptimTables& optim_kernels();

template <typename T>
const OptimKernels<T>& optim_kernels_of() {
  return by_dtype<T>(optim_kernels());
}

}  // namespace sc
