// The SSIM row loops for one CPU target (core/target_unit.h): the separable
// blur along a row and across rows (symmetric 11-tap window, zero padding),
// the per-value products, and the per-pixel SSIM terms of kernels/ssim.h,
// vectorised by the compiler along the row.
#include "core/target_unit.h"

#include "kernels/ssim.h"
#include "splat/ssim_kernels.h"

namespace {

constexpr int kR = SC_SSIM_RADIUS;
constexpr int kK = SC_SSIM_WINDOW;

// Interior values (all 11 taps inside) accumulate in registers, vectorised
// along j; the R pixels at each end clip the taps.
template <typename T>
void blur_row(const T* __restrict src, T* __restrict dst, int64_t n, int64_t C, const T* w) {
  const int64_t lo = kR * C < n ? kR * C : n;
  const int64_t hi = n - kR * C > lo ? n - kR * C : lo;
  const T w0 = w[0], w1 = w[1], w2 = w[2], w3 = w[3], w4 = w[4], w5 = w[5];
  const T* __restrict s = src - kR * C;
  const int64_t c2 = 2 * C, c3 = 3 * C, c4 = 4 * C, c5 = 5 * C, c6 = 6 * C, c7 = 7 * C,
                c8 = 8 * C, c9 = 9 * C, c10 = 10 * C;
  for (int64_t j = lo; j < hi; ++j) {
    // symmetric window: w[k] == w[10 - k]
    dst[j] = w0 * (s[j] + s[j + c10]) + w1 * (s[j + C] + s[j + c9]) + w2 * (s[j + c2] + s[j + c8]) +
             w3 * (s[j + c3] + s[j + c7]) + w4 * (s[j + c4] + s[j + c6]) + w5 * s[j + c5];
  }
  const int64_t W = n / C;
  for (int part = 0; part < 2; ++part) {
    const int64_t j0 = part == 0 ? 0 : hi, j1 = part == 0 ? lo : n;
    for (int64_t j = j0; j < j1; ++j) {
      const int64_t x = j / C;
      const int k0 = kR - x > 0 ? (int)(kR - x) : 0;
      const int k1 = W + kR - x < kK ? (int)(W + kR - x) : kK;
      T acc = T(0);
      for (int k = k0; k < k1; ++k) acc += w[k] * src[j + (k - kR) * C];
      dst[j] = acc;
    }
  }
}

template <typename T>
void blur_col(const T* const* rows, int64_t n, T* __restrict dst, const T* w) {
  bool full = true;
  for (int k = 0; k < kK; ++k) full = full && rows[k] != nullptr;
  if (full) {  // all 11 rows inside: accumulate in registers (symmetric window)
    const T *__restrict r0 = rows[0], *__restrict r1 = rows[1], *__restrict r2 = rows[2],
            *__restrict r3 = rows[3], *__restrict r4 = rows[4], *__restrict r5 = rows[5],
            *__restrict r6 = rows[6], *__restrict r7 = rows[7], *__restrict r8 = rows[8],
            *__restrict r9 = rows[9], *__restrict r10 = rows[10];
    const T w0 = w[0], w1 = w[1], w2 = w[2], w3 = w[3], w4 = w[4], w5 = w[5];
    for (int64_t j = 0; j < n; ++j)
      dst[j] = w0 * (r0[j] + r10[j]) + w1 * (r1[j] + r9[j]) + w2 * (r2[j] + r8[j]) +
               w3 * (r3[j] + r7[j]) + w4 * (r4[j] + r6[j]) + w5 * r5[j];
    return;
  }
  for (int64_t j = 0; j < n; ++j) dst[j] = T(0);
  for (int k = 0; k < kK; ++k) {
    if (!rows[k]) continue;
    const T* __restrict src = rows[k];
    const T wk = w[k];
    for (int64_t j = 0; j < n; ++j) dst[j] += wk * src[j];
  }
}

template <typename T>
void products(const T* __restrict x, const T* __restrict y, T* __restrict xx, T* __restrict yy,
              T* __restrict xy, int64_t n) {
  for (int64_t j = 0; j < n; ++j) {
    xx[j] = x[j] * x[j];
    yy[j] = y[j] * y[j];
    xy[j] = x[j] * y[j];
  }
}

template <typename T>
double pixels(const T* __restrict mu1, const T* __restrict mu2, const T* __restrict m11,
              const T* __restrict m22, const T* __restrict m12, int64_t n, T* __restrict p_mu1,
              T* __restrict p_mu2, T* __restrict p_m2, T* __restrict p_m12) {
  double acc = 0.0;
  if (p_mu1) {
    for (int64_t j = 0; j < n; ++j) {
      T a, b, c, e;
      T s = sc_ssim_pixel_grad<T>(mu1[j], mu2[j], m11[j], m22[j], m12[j], a, b, c, e);
      p_mu1[j] = a;
      p_mu2[j] = b;
      p_m2[j] = c;
      p_m12[j] = e;
      acc += (double)s;
    }
  } else {
    for (int64_t j = 0; j < n; ++j) acc += (double)sc_ssim_pixel<T>(mu1[j], mu2[j], m11[j], m22[j], m12[j]);
  }
  return acc;
}

template <typename T>
void grad(const T* __restrict x, const T* __restrict y, const T* __restrict b_mu, const T* __restrict b_m2,
          const T* __restrict b_m12, T scale, T* __restrict out, int64_t n) {
  for (int64_t j = 0; j < n; ++j) out[j] = sc_ssim_grad_x<T>(x[j], y[j], b_mu[j], b_m2[j], b_m12[j], scale);
}

template <typename T>
constexpr sc::SsimKernels<T> table() {
  return {&blur_row<T>, &blur_col<T>, &products<T>, &pixels<T>, &grad<T>};
}

const sc::SsimTables kTables = {table<float>(), table<double>()};

}  // namespace

namespace sc {
const SsimTables& SC_TARGET_TABLE(ssim_kernels)() { return kTables; }
}  // namespace sc
