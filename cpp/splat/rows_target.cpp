// The compositing row kernels for one CPU target (core/target_unit.h): the
// explicit-SIMD rows of splat/composite_simd.h for a register width of
// SC_ROWS_BYTES, or for 0 the auto-vectorised portable kernels of
// kernels/composite.h.
#include "core/target_unit.h"

#include <math.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <utility>

#include "splat/composite_rows.h"

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
const sc::RowTables kTables = {&kF32, &kF64};
}  // namespace

const sc::RowTables& sc::SC_TARGET_TABLE(rows)() { return kTables; }
