// The compositing row kernels for one CPU target. CMake compiles this file
// once per target, each time with that target's instruction-set flags,
// -ffp-contract=off (so that all targets round identically) and
//   SC_ROWS_NAME   the target's name (rows_<name>() is defined here)
//   SC_ROWS_BYTES  register width for splat/composite_simd.h, 0 for the
//                  auto-vectorised portable kernels of kernels/composite.h.
#include <math.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <utility>

#include "splat/composite_rows.h"

#if !defined(SC_ROWS_NAME) || !defined(SC_ROWS_BYTES)
#error "rows_target.cpp is compiled by CMake once per CPU target with SC_ROWS_NAME and SC_ROWS_BYTES"
#endif

// Internal linkage for everything the kernels use: each target's copy of the
// same inline functions (sc_expf, the row templates, ...) holds different
// instructions, and with external linkage the linker would keep just one of
// them for every caller, possibly one this CPU cannot run.
namespace {
#include "kernels/composite.h"
#include "splat/composite_simd.h"

template <typename T>
void forward(T px0, T py, int lanes, int n, int C, const T* recs, const int* idx, T alpha_max, T* acc,
             T* trans, int* last) {
#if SC_ROWS_BYTES > 0
  // RGB rows (the training loop's) get their own copy, its state in registers
  auto row = C == 3 ? &simd::forward_row<T, SC_ROWS_BYTES, 3> : &simd::forward_row<T, SC_ROWS_BYTES>;
  row(px0, py, lanes, n, C, recs, idx, alpha_max, acc, trans, last);
#else
  sc_composite_forward_row(px0, py, lanes, n, C, recs, idx, alpha_max, acc, trans, last);
#endif
}

template <typename T>
void backward(T px0, T py, int lanes, int C, const T* recs, const int* idx, T alpha_max,
              const T* trans_final, const int* last, const T* v_out, const T* v_alpha, const T* bg,
              T* grads) {
#if SC_ROWS_BYTES > 0
  auto row = C == 3 ? &simd::backward_row<T, SC_ROWS_BYTES, 3> : &simd::backward_row<T, SC_ROWS_BYTES>;
  row(px0, py, lanes, C, recs, idx, alpha_max, trans_final, last, v_out, v_alpha, bg, grads);
#else
  sc_composite_backward_row(px0, py, lanes, C, recs, idx, alpha_max, trans_final, last, v_out, v_alpha,
                            bg, grads);
#endif
}

const sc::RowKernels<float> kF32 = {&forward<float>, &backward<float>};
const sc::RowKernels<double> kF64 = {&forward<double>, &backward<double>};
}  // namespace

#define SC_ROWS_CAT2(a, b) a##b
#define SC_ROWS_CAT(a, b) SC_ROWS_CAT2(a, b)
sc::RowTables sc::SC_ROWS_CAT(rows_, SC_ROWS_NAME)() { return {&kF32, &kF64}; }
