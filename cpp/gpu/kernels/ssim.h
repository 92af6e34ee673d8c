// SSIM on the GPU (3DGS's ssim(): 11x11 Gaussian window, sigma 1.5, zero
// padding), over the per-pixel bodies of kernels/ssim.h. The separable blur is
// two launches, each a thread per value: a horizontal pass into planes, then
// a vertical pass that finishes the moments at its pixel.
//   forward:  ssim_hblur (x, y, x^2, y^2, xy) -> ssim_vblur (map, 4 partials)
//   backward: ssim_grad_hblur (partials) -> ssim_grad_vblur (dx, dy), scaled by
//             the upstream gradient read on the device.
// With args.lambda >= 0 the same launches give the 3DGS loss's per-element map
// (1 - lambda) |x - y| + lambda (1 - SSIM) (its mean is the loss) and gradient
// (d|x - y| / dx = sign(x - y), 0 at 0 as abs's backward): gs_loss in 4 launches
// forward and 2 backward instead of ~14 and ~18 of separate ops.
#pragma once
#include "gpu/kernels/ssim_args.h"
#include "kernels/elementwise.h"  // cpp/kernels: sc_sign
#include "kernels/ssim.h"

// Decomposes element e of (B, H, W, C) into its row base and (y, x, c).
#define SC_SSIM_COORDS                                                             \
  const sc_i64 N = args.B * args.H * args.W * args.C;                              \
  const sc_i64 e = (sc_i64)SC_GID_X * SC_GSIZE_X + SC_TID_X;                       \
  if (e >= N) return;                                                              \
  const sc_i64 c = e % args.C, px = (e / args.C) % args.W;                         \
  const sc_i64 py = (e / (args.C * args.W)) % args.H;                              \
  (void)c, (void)px, (void)py;  /* each kernel uses some of them */

#define SC_SSIM_KERNELS(SUF, T)                                                     \
  SC_KERNEL(ssim_hblur_##SUF, ScSsimArgs<T>) {                                     \
    SC_SSIM_COORDS                                                                 \
    T s[5] = {(T)0, (T)0, (T)0, (T)0, (T)0};                                       \
    for (int k = 0; k < SC_SSIM_WINDOW; ++k) {                                     \
      const sc_i64 xx = px + k - SC_SSIM_RADIUS;                                   \
      if (xx < 0 || xx >= args.W) continue;                                        \
      const sc_i64 j = e + (xx - px) * args.C;                                     \
      const T a = args.x[j], b = args.y[j], w = args.w[k];                         \
      s[0] += w * a; s[1] += w * b; s[2] += w * a * a; s[3] += w * b * b; s[4] += w * a * b; \
    }                                                                              \
    for (int p = 0; p < 5; ++p) args.planes[p * N + e] = s[p];                     \
  }                                                                                \
  SC_KERNEL(ssim_vblur_##SUF, ScSsimArgs<T>) {                                     \
    SC_SSIM_COORDS                                                                 \
    T m[5] = {(T)0, (T)0, (T)0, (T)0, (T)0};                                       \
    for (int k = 0; k < SC_SSIM_WINDOW; ++k) {                                     \
      const sc_i64 yy = py + k - SC_SSIM_RADIUS;                                   \
      if (yy < 0 || yy >= args.H) continue;                                        \
      const sc_i64 j = e + (yy - py) * args.W * args.C;                            \
      for (int p = 0; p < 5; ++p) m[p] += args.w[k] * args.planes[p * N + j];      \
    }                                                                              \
    T v;                                                                           \
    if (args.want_partials) {                                                      \
      T d_mu1, d_mu2, d_m2, d_m12;                                                 \
      v = sc_ssim_pixel_grad<T>(m[0], m[1], m[2], m[3], m[4], d_mu1, d_mu2, d_m2, d_m12); \
      args.out2[e] = d_mu1; args.out2[N + e] = d_mu2;                              \
      args.out2[2 * N + e] = d_m2; args.out2[3 * N + e] = d_m12;                   \
    } else {                                                                       \
      v = sc_ssim_pixel<T>(m[0], m[1], m[2], m[3], m[4]);                          \
    }                                                                              \
    if (args.lambda >= (T)0)                                                       \
      v = ((T)1 - args.lambda) * fabs(args.x[e] - args.y[e]) + args.lambda * ((T)1 - v); \
    args.out[e] = v;                                                               \
  }                                                                                \
  SC_KERNEL(ssim_grad_hblur_##SUF, ScSsimArgs<T>) {                                \
    SC_SSIM_COORDS                                                                 \
    T s[4] = {(T)0, (T)0, (T)0, (T)0};                                             \
    for (int k = 0; k < SC_SSIM_WINDOW; ++k) {                                     \
      const sc_i64 xx = px + k - SC_SSIM_RADIUS;                                   \
      if (xx < 0 || xx >= args.W) continue;                                        \
      const sc_i64 j = e + (xx - px) * args.C;                                     \
      for (int p = 0; p < 4; ++p) s[p] += args.w[k] * args.partials[p * N + j];    \
    }                                                                              \
    for (int p = 0; p < 4; ++p) args.planes[p * N + e] = s[p];                     \
  }                                                                                \
  SC_KERNEL(ssim_grad_vblur_##SUF, ScSsimArgs<T>) {                                \
    SC_SSIM_COORDS                                                                 \
    T b[4] = {(T)0, (T)0, (T)0, (T)0};                                             \
    for (int k = 0; k < SC_SSIM_WINDOW; ++k) {                                     \
      const sc_i64 yy = py + k - SC_SSIM_RADIUS;                                   \
      if (yy < 0 || yy >= args.H) continue;                                        \
      const sc_i64 j = e + (yy - py) * args.W * args.C;                            \
      for (int p = 0; p < 4; ++p) b[p] += args.w[k] * args.planes[p * N + j];      \
    }                                                                              \
    const T scale = args.grad[0] * args.inv_n;                                     \
    const T xv = args.x[e], yv = args.y[e];                                        \
    const bool loss = args.lambda >= (T)0;                                         \
    const T s_ssim = loss ? -args.lambda * scale : scale;                          \
    const T l1 = loss ? ((T)1 - args.lambda) * scale * sc_sign(xv - yv) : (T)0;    \
    if (args.want_dx) args.out[e] = sc_ssim_grad_x<T>(xv, yv, b[0], b[2], b[3], s_ssim) + l1; \
    if (args.want_dy) args.out2[e] = sc_ssim_grad_x<T>(yv, xv, b[1], b[2], b[3], s_ssim) - l1; \
  }
SC_GPU_FOR_FLOATS(SC_SSIM_KERNELS)
