// Math of the GPU kernels beyond kernels/elementwise.h, where a backend's
// hardware does better than the portable code (dialect.h's
// SC_GPU_HAS_EXP2_APPROX).
#pragma once
#include "gpu/dialect.h"
#include "../kernels/elementwise.h"  // cpp/kernels: sc_exp (not gpu/kernels/elementwise.h)

// sc_exp_alpha: exp for the rasterizer's Gaussian falloff exp(-sigma): the portable sc_exp (the CPU's bits:
// sim and Metal), and on CUDA 2^(x log2 e) = 2^hi (1 + lo ln 2) with hi + lo =
// x log2(e) to ~2^-48 (an FMA recovers the product's rounding) and 2^hi from the
// hardware (~2 ulp): ~3e-7 relative at any |x|, ~6 instructions instead of the
// polynomial's ~25. x is clamped at -104 (exp rounds to 0 below): -inf and NaN
// give 0, an alpha below the threshold, dropped as the CPU drops NaN.
template <typename T>
SC_FN T sc_exp_alpha(T x) { return sc_exp(x); }
#if SC_GPU_HAS_EXP2_APPROX
template <>
SC_FN float sc_exp_alpha<float>(float x) {
  x = fmax(x, -104.0f);
  const float hi = x * 1.44269504088896341f;
  const float lo = fma(x, 1.44269504088896341f, -hi) + x * 1.925963e-8f;  // log2(e) less its float
  const float r = sc_exp2_approx(hi);
  return fma(r, lo * 0.6931472f, r);
}
#endif
