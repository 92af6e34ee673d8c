// LayerNorm over the last axis (Ba et al. 2016), kernel math shared by every
// backend (kernel subset, see compat.h): y = (x - mean) / sqrt(var + eps) * w + b
// with the biased variance, as torch.nn.LayerNorm. Two passes (mean, then the
// sum of squared deviations) with partial sums, so float32 stays accurate and
// the loops vectorise.
#pragma once
#include "kernels/compat.h"

#define SC_LN_LANES 8

template <typename T>
SC_FN void sc_layer_norm_row(const SC_DEVICE T* x, int n, const SC_DEVICE T* w,
                             const SC_DEVICE T* b, T eps, SC_DEVICE T* y) {
  T acc[SC_LN_LANES];
  int nn = n - n % SC_LN_LANES;
  for (int k = 0; k < SC_LN_LANES; ++k) acc[k] = T(0);
  for (int i = 0; i < nn; i += SC_LN_LANES)
    for (int k = 0; k < SC_LN_LANES; ++k) acc[k] += x[i + k];
  T s = T(0);
  for (int k = 0; k < SC_LN_LANES; ++k) s += acc[k];
  for (int i = nn; i < n; ++i) s += x[i];
  T mean = s / T(n);

  for (int k = 0; k < SC_LN_LANES; ++k) acc[k] = T(0);
  for (int i = 0; i < nn; i += SC_LN_LANES)
    for (int k = 0; k < SC_LN_LANES; ++k) {
      T d = x[i + k] - mean;
      acc[k] += d * d;
    }
  T ss = T(0);
  for (int k = 0; k < SC_LN_LANES; ++k) ss += acc[k];
  for (int i = nn; i < n; ++i) {
    T d = x[i] - mean;
    ss += d * d;
  }
  T rstd = T(1) / sqrt(ss / T(n) + eps);
  for (int i = 0; i < n; ++i) y[i] = (x[i] - mean) * rstd * w[i] + b[i];
}
