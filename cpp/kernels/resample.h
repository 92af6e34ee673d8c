// Bilinear resampling weights and samples, torch's conventions (kernel subset,
// see compat.h). One axis at a time: an output index maps to two source
// indices i0 <= i1 and the weight w1 of i1 (i0 gets 1 - w1).
#pragma once
#include "kernels/compat.h"

template <typename T>
struct ScLerp {
  sc_i32 i0;
  sc_i32 i1;
  T w1;
};

// Source position of output index `dst` along an axis resized from in_size to
// out_size (both >= 1), as torch's upsample_bilinear2d computes it:
//   align_corners: src = dst * (in - 1) / (out - 1)           (0 when out == 1)
//   otherwise:     src = (dst + 0.5) * in / out - 0.5, clamped at 0
template <typename T>
SC_FN ScLerp<T> sc_bilinear_coord(sc_i32 dst, sc_i32 in_size, sc_i32 out_size, bool align_corners) {
  T src;
  if (align_corners) {
    T scale = out_size > 1 ? T(in_size - 1) / T(out_size - 1) : T(0);
    src = scale * T(dst);
  } else {
    T scale = T(in_size) / T(out_size);
    src = scale * (T(dst) + T(0.5)) - T(0.5);
    if (src < T(0)) src = T(0);
  }
  sc_i32 i0 = (sc_i32)src;  // floor: src >= 0
  if (i0 > in_size - 1) i0 = in_size - 1;
  ScLerp<T> r;
  r.i0 = i0;
  r.i1 = i0 < in_size - 1 ? i0 + 1 : i0;
  r.w1 = src - T(i0);
  return r;
}

// One output value from an input plane of width W.
template <typename T>
SC_FN T sc_bilinear_sample(const SC_DEVICE T* plane, sc_i32 W, ScLerp<T> ly, ScLerp<T> lx) {
  T top = plane[ly.i0 * W + lx.i0] * (T(1) - lx.w1) + plane[ly.i0 * W + lx.i1] * lx.w1;
  T bot = plane[ly.i1 * W + lx.i0] * (T(1) - lx.w1) + plane[ly.i1 * W + lx.i1] * lx.w1;
  return top * (T(1) - ly.w1) + bot * ly.w1;
}

// The adjoint of sc_bilinear_sample: spread g over the four taps of one plane.
// Not atomic: the caller owns the plane (the CPU loops one plane per task).
template <typename T>
SC_FN void sc_bilinear_scatter(SC_DEVICE T* plane, sc_i32 W, ScLerp<T> ly, ScLerp<T> lx, T g) {
  T gt = g * (T(1) - ly.w1), gb = g * ly.w1;
  plane[ly.i0 * W + lx.i0] += gt * (T(1) - lx.w1);
  plane[ly.i0 * W + lx.i1] += gt * lx.w1;
  plane[ly.i1 * W + lx.i0] += gb * (T(1) - lx.w1);
  plane[ly.i1 * W + lx.i1] += gb * lx.w1;
}
