// Per-element math shared by every backend (kernel subset, see compat.h).
#pragma once
#include "kernels/compat.h"

// exp for float without branches, so that loops over it vectorise (libm's
// expf does not): Cephes' expf (range reduction by ln 2, degree-6 polynomial,
// relative error about 1e-7). 2^n is applied as two factors so results down in
// the subnormal range come out right; overflow gives inf, NaN stays NaN.
SC_FN float sc_expf(float x) {
  float xc = x > 89.0f ? 89.0f : x;
  xc = xc < -104.0f ? -104.0f : xc;
  xc = xc != xc ? 0.0f : xc;  // NaN: computed on 0, replaced at the end
  // n = round(x / ln 2) by adding 1.5 * 2^23: the sum's low mantissa bits are
  // n itself. (floor() and float->int conversions after the clamps above keep
  // GCC from vectorising; this does not.)
  float f = xc * 1.44269504088896341f + 12582912.0f;
  sc_i32 ni = (sc_i32)(SC_BITS_OF_FLOAT(f) - 0x4B400000u);
  float n = f - 12582912.0f;
  float r = xc - n * 0.693359375f;
  r = r - n * -2.12194440e-4f;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  float y = p * r * r + r + 1.0f;
  sc_i32 n1 = ni / 2, n2 = ni - ni / 2;  // each in [-75, 64]: normal powers of two
  float s1 = SC_FLOAT_OF_BITS((sc_u32)(n1 + 127) << 23);
  float s2 = SC_FLOAT_OF_BITS((sc_u32)(n2 + 127) << 23);
  float e = y * s1 * s2;
  return x != x ? x : e;
}

// exp: the branch-free float version above for float, the math library's otherwise.
template <typename T>
SC_FN T sc_exp(T x) { return exp(x); }
SC_FN float sc_exp(float x) { return sc_expf(x); }

// erfc with fractional error < 1.2e-7 everywhere (Chebyshev fit, Numerical
// Recipes in C, 2nd ed., section 6.2, "erfcc"). MSL has no erf.
template <typename T>
SC_FN T sc_erfc(T x) {
  T z = fabs(x);
  T t = T(1) / (T(1) + T(0.5) * z);
  T poly = T(-1.26551223) +
           t * (T(1.00002368) +
           t * (T(0.37409196) +
           t * (T(0.09678418) +
           t * (T(-0.18628806) +
           t * (T(0.27886807) +
           t * (T(-1.13520398) +
           t * (T(1.48851587) +
           t * (T(-0.82215223) +
           t * T(0.17087277)))))))));
  T r = t * sc_exp(-z * z + poly);
  return x >= T(0) ? r : T(2) - r;
}

// Standard normal CDF, relative-accurate in both tails.
template <typename T>
SC_FN T sc_normal_cdf(T x) { return T(0.5) * sc_erfc(-x * T(0.70710678118654752440)); }

// GELU, exact form x * Phi(x) (Hendrycks & Gimpel 2016).
template <typename T>
SC_FN T sc_gelu(T x) { return x * sc_normal_cdf(x); }

// d/dx GELU = Phi(x) + x * phi(x).
template <typename T>
SC_FN T sc_gelu_grad(T x) {
  T pdf = T(0.39894228040143267794) * sc_exp(T(-0.5) * x * x);
  return sc_normal_cdf(x) + x * pdf;
}

// Numerically stable logistic function: e = exp(-|x|) never overflows;
// sigmoid(x) = 1 / (1 + e) for x >= 0 and e / (1 + e) below. Branch-free.
template <typename T>
SC_FN T sc_sigmoid(T x) {
  T e = sc_exp(x >= T(0) ? -x : x);
  T r = T(1) / (T(1) + e);
  return x >= T(0) ? r : e * r;
}

template <typename T>
SC_FN T sc_relu(T x) { return x > T(0) ? x : T(0); }

template <typename T>
SC_FN T sc_sign(T x) { return x > T(0) ? T(1) : (x < T(0) ? T(-1) : T(0)); }

template <typename T>
SC_FN T sc_rsqrt(T x) { return T(1) / sqrt(x); }
