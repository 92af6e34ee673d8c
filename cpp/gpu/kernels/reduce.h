// Reduction GPU kernels: sums, sums of squares, max and min over the middle
// axis of an (A, R, K) block, arg-extremes and softmax over rows.
//   reduce_rows_*: K == 1; a group of 256 reduces one chunk of a row (SIMD
//     shuffles within each SIMD group, then shared memory across them); long
//     rows take a second launch over the per-chunk partials.
//   reduce_cols_*: a thread per output walks R with stride K (coalesced over k);
//     few outputs over long columns split R into chunks, then reduce the chunks.
// max / min propagate NaN as NumPy does (the CPU's rule).
#pragma once
#include "gpu/kernels/reduce_args.h"
#include "kernels/elementwise.h"

template <typename T>
SC_FN T sc_reduce_combine(int op, T a, T b) {
  if (op == SC_RED_MAX) return b != b ? b : (b > a ? b : a);
  if (op == SC_RED_MIN) return b != b ? b : (b < a ? b : a);
  return a + b;
}

template <typename T>
SC_FN T sc_reduce_load(int op, T v) { return op == SC_RED_SUM_SQUARES ? v * v : v; }

// Butterfly over the SIMD group with shuffles (every lane ends with the total).
template <typename T>
SC_FN T sc_simd_combine(int op, T v, unsigned lane) {
  for (unsigned o = 16; o > 0; o >>= 1) v = sc_reduce_combine(op, v, sc_simd_shuffle(v, lane ^ o));
  return v;
}

#define SC_REDUCE_GROUP 256

#define SC_REDUCE_KERNELS(SUF, T)                                                          \
  SC_KERNEL(reduce_rows_##SUF, ScReduceArgs<T>) {                                         \
    SC_SHARED(T, partial, SC_REDUCE_GROUP / 32);                                          \
    const sc_i64 g = SC_GID_X, row = g / args.chunks, c = g - row * args.chunks;          \
    const sc_i64 begin = c * args.chunk;                                                  \
    sc_i64 end = begin + args.chunk;                                                      \
    if (end > args.R) end = args.R;                                                       \
    T acc = args.identity;                                                                \
    for (sc_i64 i = begin + SC_TID_X; i < end; i += SC_REDUCE_GROUP)                      \
      acc = sc_reduce_combine(args.op, acc, sc_reduce_load(args.op, args.src[row * args.R + i])); \
    acc = sc_simd_combine(args.op, acc, SC_LANE);                                         \
    if (SC_LANE == 0) partial[SC_SIMD_ID] = acc;                                          \
    SC_BARRIER();                                                                         \
    if (SC_TID_X == 0) {                                                                  \
      T total = partial[0];                                                               \
      for (int w = 1; w < SC_REDUCE_GROUP / 32; ++w) total = sc_reduce_combine(args.op, total, partial[w]); \
      args.out[g] = total;                                                                \
    }                                                                                     \
  }                                                                                       \
  SC_KERNEL(reduce_cols_##SUF, ScReduceArgs<T>) {                                         \
    /* a thread per (a, chunk c, k): rows [c chunk, (c + 1) chunk) into out (A, chunks, K) */ \
    const sc_i64 o = (sc_i64)SC_GID_X * SC_GSIZE_X + SC_TID_X;                            \
    if (o >= args.A * args.chunks * args.K) return;                                       \
    const sc_i64 k = o % args.K, c = (o / args.K) % args.chunks, a = o / (args.K * args.chunks); \
    sc_i64 r1 = (c + 1) * args.chunk;                                                     \
    if (r1 > args.R) r1 = args.R;                                                         \
    T acc = args.identity;                                                                \
    for (sc_i64 r = c * args.chunk; r < r1; ++r)                                          \
      acc = sc_reduce_combine(args.op, acc, sc_reduce_load(args.op, args.src[(a * args.R + r) * args.K + k])); \
    args.out[o] = acc;                                                                    \
  }                                                                                       \
  SC_KERNEL(arg_reduce_##SUF, ScArgReduceArgs<T>) {                                       \
    const sc_i64 r = (sc_i64)SC_GID_X * SC_GSIZE_X + SC_TID_X;                            \
    if (r >= args.rows) return;                                                           \
    sc_i64 best = 0;                                                                      \
    T bv = args.src[r * args.len];                                                        \
    for (sc_i64 i = 1; i < args.len && bv == bv; ++i) {                                   \
      T v = args.src[r * args.len + i];                                                   \
      if (v != v || (args.is_max ? v > bv : v < bv)) {                                    \
        best = i;                                                                         \
        bv = v;                                                                           \
      }                                                                                   \
    }                                                                                     \
    args.out[r] = best;                                                                   \
  }
SC_GPU_FOR_NUMERIC(SC_REDUCE_KERNELS)

// Softmax: a group per row; max, then the sum of exponentials, then the output.
#define SC_SOFTMAX_KERNEL(SUF, T)                                                          \
  SC_KERNEL(softmax_##SUF, ScSoftmaxArgs<T>) {                                            \
    SC_SHARED(T, partial, SC_REDUCE_GROUP / 32);                                          \
    const sc_i64 row = SC_GID_X;                                                          \
    SC_PTR(const T) in = args.src + row * args.len;                                       \
    SC_PTR(T) out = args.out + row * args.len;                                            \
    T m = -INFINITY;                                                                      \
    for (sc_i64 i = SC_TID_X; i < args.len; i += SC_REDUCE_GROUP) m = in[i] > m ? in[i] : m; \
    m = sc_simd_combine(SC_RED_MAX, m, SC_LANE);                                          \
    if (SC_LANE == 0) partial[SC_SIMD_ID] = m;                                            \
    SC_BARRIER();                                                                         \
    m = partial[0];                                                                       \
    for (int w = 1; w < SC_REDUCE_GROUP / 32; ++w) m = partial[w] > m ? partial[w] : m;   \
    if (m == -INFINITY) m = T(0);                                                         \
    SC_BARRIER();                                                                         \
    T s = T(0);                                                                           \
    for (sc_i64 i = SC_TID_X; i < args.len; i += SC_REDUCE_GROUP) s += sc_exp(T(in[i] - m)); \
    s = sc_simd_sum(s);                                                                   \
    if (SC_LANE == 0) partial[SC_SIMD_ID] = s;                                            \
    SC_BARRIER();                                                                         \
    s = T(0);                                                                             \
    for (int w = 0; w < SC_REDUCE_GROUP / 32; ++w) s += partial[w];                       \
    if (args.log_space) {                                                                 \
      T ls = log(s);                                                                      \
      for (sc_i64 i = SC_TID_X; i < args.len; i += SC_REDUCE_GROUP) out[i] = (in[i] - m) - ls; \
    } else {                                                                              \
      T inv = T(1) / s;                                                                   \
      for (sc_i64 i = SC_TID_X; i < args.len; i += SC_REDUCE_GROUP) out[i] = sc_exp(T(in[i] - m)) * inv; \
    }                                                                                     \
  }
SC_GPU_FOR_FLOATS(SC_SOFTMAX_KERNEL)
