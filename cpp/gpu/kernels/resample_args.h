// Argument struct of the bilinear resampling GPU kernels (gpu/kernels/resample.h).
#pragma once
#include "gpu/dialect.h"

// (planes, H, W) <-> (planes, Ho, Wo), contiguous.
template <typename T>
struct ScBilinearArgs {
  SC_PTR(T) src;   // forward: x; backward: dy
  SC_PTR(T) dst;   // forward: y; backward: dx (zero on entry, atomically accumulated)
  sc_i64 planes;
  sc_i32 H, W, Ho, Wo, align_corners;
};
