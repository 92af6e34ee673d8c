// The compositing row kernels (sc_composite_forward_row / _backward_row and
// their explicit-SIMD forms, splat/composite_simd.h) for every CPU target
// compiled in, and the table of the one in use (core/cpu_target.h).
#pragma once
#include "core/cpu_target.h"

namespace sc {

template <typename T>
struct RowKernels {
  void (*forward)(T px0, T py, int lanes, int n, int C, const T* recs, const int* idx, T alpha_max,
                  T* acc, T* trans, int* last);
  void (*backward)(T px0, T py, int lanes, int C, const T* recs, const int* idx, T alpha_max,
                   const T* trans_final, const int* last, const T* v_out, const T* v_alpha,
                   const T* bg, T* grads);
};

struct RowTables {
  const RowKernels<float>* f32;
  const RowKernels<double>* f64;
};

// The tables of the target in use (core/cpu_target.h); one per target,
// rows_<target>(), is defined by splat/rows_target.cpp compiled with that
// target's flags.
const RowTables& rows();
const RowTables& rows_portable();
const RowTables& rows_sse2();
const RowTables& rows_avx2();
const RowTables& rows_avx512();
const RowTables& rows_neon();

// The kernels of the target in use.
template <typename T>
const RowKernels<T>& row_kernels() {
  return *by_dtype<T>(rows());
}

}  // namespace sc
