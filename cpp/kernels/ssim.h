// Per-pixel SSIM math shared by every backend (3DGS's ssim(): Wang et al.
// 2004 with an 11x11 Gaussian window, sigma 1.5, C1 = 0.01^2, C2 = 0.03^2).
//
// The blurs themselves (separable, zero padding, "same" size) are loops of
// the backend; these bodies take the five blurred moments at one pixel:
//   mu1 = G*x, mu2 = G*y, m11 = G*(x^2), m22 = G*(y^2), m12 = G*(x y)
// and give the SSIM value and its partial derivatives w.r.t. those moments.
// Working with the raw second moments (not the variances) is what makes the
// backward a plain blur: every moment is linear in a per-pixel product of the
// inputs, so d/dx of a blurred moment is the (symmetric) window itself.
#pragma once
#include "kernels/compat.h"

#define SC_SSIM_WINDOW 11  // taps of the 1-D window
#define SC_SSIM_RADIUS 5   // (SC_SSIM_WINDOW - 1) / 2: the zero padding of 3DGS's conv2d
#define SC_SSIM_SIGMA 1.5f

// C1 = (0.01 L)^2, C2 = (0.03 L)^2 with L = 1, as quotients so that the
// float64 path gets them exactly (0.0001f widened to double is not 1e-4).
template <typename T>
SC_FN T sc_ssim_c1() { return T(1) / T(10000); }
template <typename T>
SC_FN T sc_ssim_c2() { return T(9) / T(10000); }

// The normalised 1-D Gaussian window, w[k] ∝ exp(-(k - 5)^2 / (2 sigma^2)),
// k = 0..10; the 2-D window of 3DGS is the outer product w w^T (already
// normalised). Symmetric: w[k] == w[10 - k].
template <typename T>
SC_FN void sc_ssim_window(SC_THREAD T* w) {
  T s = T(0);
  for (int k = 0; k < SC_SSIM_WINDOW; ++k) {
    T d = T(k - SC_SSIM_RADIUS);
    w[k] = exp(-d * d / (T(2) * T(SC_SSIM_SIGMA) * T(SC_SSIM_SIGMA)));
    s += w[k];
  }
  for (int k = 0; k < SC_SSIM_WINDOW; ++k) w[k] = w[k] / s;
}

// SSIM at one pixel from the blurred moments:
//   s11 = m11 - mu1^2, s22 = m22 - mu2^2, s12 = m12 - mu1 mu2
//   A = 2 mu1 mu2 + C1,  B = 2 s12 + C2,  C = mu1^2 + mu2^2 + C1,  D = s11 + s22 + C2
//   S = (A B) / (C D)
template <typename T>
SC_FN T sc_ssim_pixel(T mu1, T mu2, T m11, T m22, T m12) {
  T mu11 = mu1 * mu1, mu22 = mu2 * mu2, mu12 = mu1 * mu2;
  T A = T(2) * mu12 + sc_ssim_c1<T>();
  T B = T(2) * (m12 - mu12) + sc_ssim_c2<T>();
  T C = mu11 + mu22 + sc_ssim_c1<T>();
  T D = (m11 - mu11) + (m22 - mu22) + sc_ssim_c2<T>();
  return (A * B) / (C * D);
}

// SSIM at one pixel and its partial derivatives w.r.t. the five moments.
// With S = A B / (C D):
//   dS/dA = B/(CD), dS/dB = A/(CD), dS/dC = -S/C, dS/dD = -S/D
// and the chain through A..D (dA/dmu1 = 2 mu2, dB/dmu1 = -2 mu2,
// dC/dmu1 = 2 mu1, dD/dmu1 = -2 mu1; dB/dm12 = 2; dD/dm11 = dD/dm22 = 1):
//   dS/dmu1 = 2 mu2 (B - A)/(CD) + 2 mu1 S (1/D - 1/C)
//   dS/dmu2 = 2 mu1 (B - A)/(CD) + 2 mu2 S (1/D - 1/C)
//   dS/dm11 = dS/dm22 = -S/D
//   dS/dm12 = 2 A/(CD)
// (dS/dm11 equals dS/dm22, so one value d_m2 is returned for both.)
template <typename T>
SC_FN T sc_ssim_pixel_grad(T mu1, T mu2, T m11, T m22, T m12, SC_THREAD T& d_mu1,
                           SC_THREAD T& d_mu2, SC_THREAD T& d_m2, SC_THREAD T& d_m12) {
  T mu11 = mu1 * mu1, mu22 = mu2 * mu2, mu12 = mu1 * mu2;
  T A = T(2) * mu12 + sc_ssim_c1<T>();
  T B = T(2) * (m12 - mu12) + sc_ssim_c2<T>();
  T C = mu11 + mu22 + sc_ssim_c1<T>();
  T D = (m11 - mu11) + (m22 - mu22) + sc_ssim_c2<T>();
  T invC = T(1) / C, invD = T(1) / D;
  T invCD = invC * invD;
  T S = A * B * invCD;
  T t1 = T(2) * (B - A) * invCD;  // shared by d_mu1, d_mu2
  T t2 = T(2) * S * (invD - invC);
  d_mu1 = mu2 * t1 + mu1 * t2;
  d_mu2 = mu1 * t1 + mu2 * t2;
  d_m2 = -S * invD;
  d_m12 = T(2) * A * invCD;
  return S;
}

// Gradient of the loss w.r.t. the inputs at one pixel q. With g_k(p) the loss
// gradient w.r.t. moment k at pixel p (g * dS/dk / N for the mean), and
// mu1 = G*x, m11 = G*(x^2), m12 = G*(x y) (likewise for y):
//   dL/dx_q = sum_p G(p - q) [g_mu1(p) + 2 x_q g_m11(p) + y_q g_m12(p)]
// The sum over p is the transposed "same" convolution with zero padding,
// which for the symmetric window is the same blur again: b_k = G * g_k. So
//   dL/dx_q = b_mu1(q) + 2 x_q b_m2(q) + y_q b_m12(q)
//   dL/dy_q = b_mu2(q) + 2 y_q b_m2(q) + x_q b_m12(q)
// `scale` multiplies everything (the blurs are linear, so the upstream
// gradient and 1/N can be applied here once).
template <typename T>
SC_FN T sc_ssim_grad_x(T x, T y, T b_mu1, T b_m2, T b_m12, T scale) {
  return scale * (b_mu1 + T(2) * x * b_m2 + y * b_m12);
}
