// The row loops of the CPU SSIM (splat/ssim.cpp), compiled once per CPU target
// (splat/ssim_target.cpp) and chosen at run time (core/cpu_target.h). A row is
// n = W*C contiguous values of one image row; ssim.cpp streams the rows
// through its ring of horizontal blurs and the thread pool.
#pragma once
#include <cstdint>

#include "core/cpu_target.h"

namespace sc {

template <typename T>
struct SsimKernels {
  // dst[j] = sum_k w[k] src[j + (k - R) C] along the row, zero outside it
  void (*blur_row)(const T* src, T* dst, int64_t n, int64_t C, const T* w);
  // dst[j] = sum_k w[k] rows[k][j]; rows[k] null outside the image (zero padding)
  void (*blur_col)(const T* const* rows, int64_t n, T* dst, const T* w);
  // xx = x^2, yy = y^2, xy = x y
  void (*products)(const T* x, const T* y, T* xx, T* yy, T* xy, int64_t n);
  // sum over the row of the SSIM from the blurred moments, in float64 in index
  // order; with p_mu1 non-null also its partials (sc_ssim_pixel_grad)
  double (*pixels)(const T* mu1, const T* mu2, const T* m11, const T* m22, const T* m12, int64_t n,
                   T* p_mu1, T* p_mu2, T* p_m2, T* p_m12);
  // out[j] = sc_ssim_grad_x(x[j], y[j], b_mu[j], b_m2[j], b_m12[j], scale)
  void (*grad)(const T* x, const T* y, const T* b_mu, const T* b_m2, const T* b_m12, T scale, T* out,
               int64_t n);
};

struct SsimTables {
  SsimKernels<float> f32;
  SsimKernels<double> f64;
};

// The target in use.
const SsimTables& ssim_kernels();

}  // namespace sc
