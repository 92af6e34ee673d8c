// Argument struct of the SSIM GPU kernels (gpu/kernels/ssim.h): images
// (B, H, W, C) channels last, contiguous; `planes` holds P planes of numel.
#pragma once
#include "gpu/dialect.h"

template <typename T>
struct ScSsimArgs {
  SC_PTR(const T) x;
  SC_PTR(const T) y;
  SC_PTR(T) planes;        // horizontal blurs (5 forward, 4 backward)
  SC_PTR(T) out;           // forward: SSIM map; backward: dx
  SC_PTR(T) out2;          // forward: 4 partial planes; backward: dy (null when not wanted)
  SC_PTR(const T) partials;  // backward: the 4 partial planes of the forward
  SC_PTR(const T) grad;    // backward: the upstream gradient (a device scalar: no host read)
  sc_i64 B, H, W, C;
  T w[11];                 // the normalised window (kernels/ssim.h)
  T inv_n;                 // 1 / numel
  // the 3DGS loss fused in (gs_loss): with lambda >= 0 the forward map is
  // (1 - lambda) |x - y| + lambda (1 - SSIM) per element, and the backward its
  // gradient; lambda < 0: SSIM alone
  T lambda;
  sc_i32 want_partials, want_dx, want_dy;
};
