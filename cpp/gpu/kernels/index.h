// Indexing GPU kernels: gather (index_select and gather), scatter-add with
// atomics, and cumsum. A thread per element of the iteration space; an index
// out of bounds is never followed: it sets the error word (raised as an
// IndexError at the next host read) and the element reads as 0 / adds nothing.
#pragma once
#include "gpu/kernels/index_args.h"

// Offsets of element e in dst, src and index, the axis coordinate left out of
// dst and src; returns false (and flags the error) for an index out of range.
template <typename T>
SC_FN bool sc_index_offsets(SC_ARGS_REF(ScIndexArgs<T>) a, sc_i64 e, bool index_into_src,
                            SC_THREAD sc_i64* dst_off, SC_THREAD sc_i64* src_off) {
  sc_i64 r = e, d_off = 0, s_off = 0, i_off = 0, coord_axis = 0;
  for (int d = a.ndim - 1; d >= 0; --d) {
    sc_i64 q = r / a.shape[d];
    sc_i64 c = r - q * a.shape[d];
    r = q;
    i_off += c * a.index_strides[d];
    if (d == a.axis) {
      coord_axis = c;
      continue;
    }
    d_off += c * a.dst_strides[d];
    s_off += c * a.src_strides[d];
  }
  sc_i64 v = a.index[i_off];
  if (v < -a.axis_size || v >= a.axis_size) {
    a.error[0] = 1u;
    return false;
  }
  if (v < 0) v += a.axis_size;
  // gather: dst[.., j, ..] = src[.., v, ..]; scatter: dst[.., v, ..] += src[.., j, ..]
  *dst_off = d_off + (index_into_src ? coord_axis : v) * a.dst_strides[a.axis];
  *src_off = s_off + (index_into_src ? v : coord_axis) * a.src_strides[a.axis];
  return true;
}

#define SC_GATHER_KERNEL(SUF, T)                                                     \
  SC_KERNEL(index_gather_##SUF, ScIndexArgs<T>) {                                   \
    const sc_i64 e = (sc_i64)SC_GID_X * SC_GSIZE_X + SC_TID_X;                      \
    if (e >= args.n) return;                                                        \
    sc_i64 d_off, s_off;                                                            \
    if (sc_index_offsets<T>(args, e, true, &d_off, &s_off)) args.dst[d_off] = args.src[s_off]; \
    else args.dst[e] = (T)0;                                                \
  }
SC_GATHER_KERNEL(b1, unsigned char)
SC_GATHER_KERNEL(b2, unsigned short)
SC_GATHER_KERNEL(b4, unsigned int)
SC_GATHER_KERNEL(b8, sc_u64)

#define SC_SCATTER_KERNEL(SUF, T)                                                    \
  SC_KERNEL(index_scatter_add_##SUF, ScIndexArgs<T>) {                              \
    const sc_i64 e = (sc_i64)SC_GID_X * SC_GSIZE_X + SC_TID_X;                      \
    if (e >= args.n) return;                                                        \
    sc_i64 d_off, s_off;                                                            \
    if (sc_index_offsets<T>(args, e, false, &d_off, &s_off))                        \
      sc_atomic_add(&args.dst[d_off], args.src[s_off]);                             \
  }
SC_SCATTER_KERNEL(f32, float)
SC_SCATTER_KERNEL(i32, int)
SC_SCATTER_KERNEL(u32, unsigned int)
#if SC_GPU_HAS_FLOAT64
SC_SCATTER_KERNEL(f64, double)
#endif

// cumsum: a thread per (outer, inner) column walks the scanned axis.
#define SC_SCAN_KERNEL(SUF, T)                                                       \
  SC_KERNEL(scan_cumsum_##SUF, ScScanArgs<T>) {                                     \
    const sc_i64 c = (sc_i64)SC_GID_X * SC_GSIZE_X + SC_TID_X;                      \
    if (c >= args.outer * args.inner) return;                                       \
    const sc_i64 o = c / args.inner, i = c - o * args.inner;                        \
    const sc_i64 base = o * args.len * args.inner + i;                              \
    T acc = (T)0;                                                                   \
    for (sc_i64 s = 0; s < args.len; ++s) {                                         \
      const sc_i64 j = args.reverse ? args.len - 1 - s : s;                         \
      acc += args.src[base + j * args.inner];                                       \
      args.out[base + j * args.inner] = acc;                                        \
    }                                                                               \
  }
SC_SCAN_KERNEL(i64, sc_i64)
SC_GPU_FOR_FLOATS(SC_SCAN_KERNEL)
