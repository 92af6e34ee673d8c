// Argument structs of the indexing GPU kernels (gpu/kernels/index.h).
// The iteration space `shape` (the index's shape, or the output's for
// index_select) is walked in row-major order; every operand is addressed
// through its own strides, the indexed axis through the index value.
#pragma once
#include "gpu/dialect.h"

#define SC_INDEX_MAX_DIMS 8

template <typename T>
struct ScIndexArgs {
  SC_PTR(T) dst;               // gather: the contiguous output; scatter: the target
  SC_PTR(const T) src;
  SC_PTR(const sc_i64) index;
  SC_PTR(unsigned int) error;  // set to 1 by an index out of [-axis_size, axis_size)
  sc_i64 n;                    // elements of the iteration space
  sc_i64 axis_size;
  sc_i32 ndim, axis;
  sc_i64 shape[SC_INDEX_MAX_DIMS];
  sc_i64 dst_strides[SC_INDEX_MAX_DIMS];
  sc_i64 src_strides[SC_INDEX_MAX_DIMS];
  sc_i64 index_strides[SC_INDEX_MAX_DIMS];
};

// cumsum of a contiguous (outer, len, inner) block along len (reverse: from the end).
template <typename T>
struct ScScanArgs {
  SC_PTR(const T) src;
  SC_PTR(T) out;
  sc_i64 outer, len, inner;
  sc_i32 reverse;
};
