// Argument structs of the reduction GPU kernels (gpu/kernels/reduce.h).
// The source is a contiguous (A, R, K) block reduced over R into (A, K).
#pragma once
#include "gpu/dialect.h"

enum ScReduceOp { SC_RED_SUM = 0, SC_RED_MAX, SC_RED_MIN, SC_RED_SUM_SQUARES };

template <typename T>
struct ScReduceArgs {
  SC_PTR(const T) src;
  SC_PTR(T) out;        // (A, K), or (A, chunks) partials of the chunked row kernel
  sc_i64 A, R, K;
  sc_i64 chunk, chunks; // row kernel: elements per group, groups per row
  T identity;           // 0, or the lowest / highest value of T
  sc_i32 op;            // ScReduceOp
};

// Index of the first extreme of each row (NaN wins, the first NaN), int64.
template <typename T>
struct ScArgReduceArgs {
  SC_PTR(const T) src;
  SC_PTR(sc_i64) out;
  sc_i64 rows, len;
  sc_i32 is_max;
};

// Softmax (or log-softmax) of each contiguous row of `len`.
template <typename T>
struct ScSoftmaxArgs {
  SC_PTR(const T) src;
  SC_PTR(T) out;
  sc_i64 rows, len;
  sc_i32 log_space;
};
