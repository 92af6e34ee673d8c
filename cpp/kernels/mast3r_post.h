// MASt3R / DUSt3R output post-processing per pixel, kernel math shared by
// every backend (kernel subset, see compat.h). Modes as in DUSt3R's
// postprocess: reg_dense_depth, reg_dense_conf, and MASt3R's reg_desc ('norm').
#pragma once
#include "kernels/compat.h"

#define SC_DEPTH_LINEAR 0
#define SC_DEPTH_SQUARE 1
#define SC_DEPTH_EXP 2

// xyz = (a, b, c) -> the 3-D point: direction xyz / max(|xyz|, 1e-8) times
// d (linear), d^2 (square) or expm1(d) (exp), with d = |xyz|.
template <typename T>
SC_FN void sc_reg_dense_depth3(T a, T b, T c, int mode, SC_DEVICE T* out) {
  if (mode == SC_DEPTH_LINEAR) {
    out[0] = a;
    out[1] = b;
    out[2] = c;
    return;
  }
  T d = sqrt(a * a + b * b + c * c);
  T dc = d > T(1e-8) ? d : T(1e-8);
  T f = mode == SC_DEPTH_SQUARE ? d * d : expm1(d);
  out[0] = a / dc * f;
  out[1] = b / dc * f;
  out[2] = c / dc * f;
}

// The same reading xyz[0 .. 3).
template <typename T>
SC_FN void sc_reg_dense_depth(const SC_DEVICE T* xyz, int mode, SC_DEVICE T* out) {
  sc_reg_dense_depth3(xyz[0], xyz[1], xyz[2], mode, out);
}

// Confidence, mode 'exp': vmin + min(exp(x), vmax - vmin).
template <typename T>
SC_FN T sc_reg_dense_conf_exp(T x, T vmin, T vmax) {
  T e = exp(x);
  T r = vmax - vmin;
  return vmin + (e < r ? e : r);
}

// Descriptor, mode 'norm': d / |d| over n channels (read with stride `stride`).
template <typename T>
SC_FN void sc_reg_desc_norm(const SC_DEVICE T* d, int n, int stride, SC_DEVICE T* out) {
  T s = T(0);
  for (int i = 0; i < n; ++i) s += d[i * stride] * d[i * stride];
  T inv = T(1) / sqrt(s);
  for (int i = 0; i < n; ++i) out[i] = d[i * stride] * inv;
}
