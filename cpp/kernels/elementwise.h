// Per-element math shared by every backend (kernel subset, see compat.h).
#pragma once
#include "kernels/compat.h"

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
  T r = t * exp(-z * z + poly);
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
  T pdf = T(0.39894228040143267794) * exp(T(-0.5) * x * x);
  return sc_normal_cdf(x) + x * pdf;
}

// Numerically stable logistic function.
template <typename T>
SC_FN T sc_sigmoid(T x) {
  if (x >= T(0)) return T(1) / (T(1) + exp(-x));
  T e = exp(x);
  return e / (T(1) + e);
}

template <typename T>
SC_FN T sc_relu(T x) { return x > T(0) ? x : T(0); }

template <typename T>
SC_FN T sc_sign(T x) { return x > T(0) ? T(1) : (x < T(0) ? T(-1) : T(0)); }

template <typename T>
SC_FN T sc_rsqrt(T x) { return T(1) / sqrt(x); }
