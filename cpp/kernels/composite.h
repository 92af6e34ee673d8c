// Per-pixel alpha compositing of depth-sorted 2D Gaussians, forward and
// backward (3DGS, Kerbl et al. 2023, eq. 3; gsplat's conventions).
//
// A tile's Gaussians are gathered, front to back, into records of stride
// sc_record_stride(C): [mx, my, A, B, Cc, opacity, f_0 .. f_{C-1}] where
// (A, B, Cc) is the conic and f the C feature channels (RGB, depth, ...).
// Pixel centres are (x + 0.5, y + 0.5).
#pragma once
#include "kernels/compat.h"

#define SC_ALPHA_THRESHOLD (1.0f / 255.0f)  // skip fainter contributions
#define SC_TRANSMITTANCE_EPS 1e-4f          // stop once T would fall to this

SC_FN int sc_record_stride(int channels) { return 6 + channels; }
// Per-record gradient slots: v_mx, v_my, v_A, v_B, v_C, v_opacity, v_f[C],
// then |v_mx|, |v_my| summed per pixel (for densification's absgrad).
SC_FN int sc_grad_stride(int channels) { return 8 + channels; }

// Gaussian falloff at a pixel: sigma = 0.5 (A dx^2 + C dy^2) + B dx dy with
// d = mean - pixel; alpha = min(alpha_max, opacity * exp(-sigma)). Returns
// false when the pair contributes nothing (sigma < 0 or alpha < 1/255).
template <typename T>
SC_FN bool sc_splat_alpha(SC_DEVICE const T* rec, T px, T py, T alpha_max, SC_THREAD T& alpha) {
  T dx = rec[0] - px, dy = rec[1] - py;
  T sigma = T(0.5) * (rec[2] * dx * dx + rec[4] * dy * dy) + rec[3] * dx * dy;
  if (sigma < T(0)) return false;
  T a = rec[5] * exp(-sigma);
  alpha = a < alpha_max ? a : alpha_max;
  return alpha >= T(SC_ALPHA_THRESHOLD);
}

// Front-to-back compositing of n records at one pixel. acc[C] receives the
// premultiplied features (background not added); trans the final
// transmittance. Returns how many records were walked up to and including
// the last one that contributed (0: none), which the backward replays.
template <typename T>
SC_FN int sc_composite_forward(T px, T py, int n, int C, SC_DEVICE const T* recs, T alpha_max,
                               SC_THREAD T* acc, SC_THREAD T& trans) {
  int stride = sc_record_stride(C);
  T Tr = T(1);
  int last = 0;
  for (int c = 0; c < C; ++c) acc[c] = T(0);
  for (int k = 0; k < n; ++k) {
    SC_DEVICE const T* r = recs + k * stride;
    T alpha;
    if (!sc_splat_alpha(r, px, py, alpha_max, alpha)) continue;
    T next = Tr * (T(1) - alpha);
    if (next <= T(SC_TRANSMITTANCE_EPS)) break;  // this one is not added
    T w = alpha * Tr;
    for (int c = 0; c < C; ++c) acc[c] += r[6 + c] * w;
    Tr = next;
    last = k + 1;
  }
  trans = Tr;
  return last;
}

// Backward of one pixel: walks the records back to front from the saved
// final transmittance, adding into grads[k * sc_grad_stride(C) + slot].
// v_out[C]: gradient of the pixel's output features (background included in
// the output: out = acc + T_final * bg); v_alpha: of alpha = 1 - T_final.
// Returns the gradient of the output w.r.t. nothing else; the background
// gradient is T_final * v_out and is summed by the caller.
template <typename T>
SC_FN void sc_composite_backward(T px, T py, int n_contrib, int C, SC_DEVICE const T* recs,
                                 T alpha_max, T trans_final, SC_THREAD const T* v_out, T v_alpha,
                                 SC_THREAD const T* bg, SC_DEVICE T* grads) {
  int stride = sc_record_stride(C), gstride = sc_grad_stride(C);
  T Tr = trans_final;
  // behind[c]: features composited behind the current record, plus T_final * bg.
  T behind[16];
  for (int c = 0; c < C; ++c) behind[c] = trans_final * bg[c];
  for (int k = n_contrib - 1; k >= 0; --k) {
    SC_DEVICE const T* r = recs + k * stride;
    T alpha;
    if (!sc_splat_alpha(r, px, py, alpha_max, alpha)) continue;
    T one_minus = T(1) - alpha;
    Tr = Tr / one_minus;  // transmittance in front of record k
    T w = alpha * Tr;
    SC_DEVICE T* g = grads + k * gstride;
    // d out_c / d alpha_k = f_kc T_k - behind_c / (1 - alpha_k); d alpha_out / d alpha_k = T_final / (1 - alpha_k)
    T v_a = v_alpha * trans_final / one_minus;
    for (int c = 0; c < C; ++c) {
      g[6 + c] += w * v_out[c];
      v_a += v_out[c] * (r[6 + c] * Tr - behind[c] / one_minus);
      behind[c] += r[6 + c] * w;
    }
    // alpha = opacity * exp(-sigma) unless clamped at alpha_max
    T dx = r[0] - px, dy = r[1] - py;
    T sigma = T(0.5) * (r[2] * dx * dx + r[4] * dy * dy) + r[3] * dx * dy;
    T G = exp(-sigma);
    if (r[5] * G >= alpha_max) continue;
    T v_sigma = -v_a * r[5] * G;
    g[5] += v_a * G;
    T gx = (r[2] * dx + r[3] * dy) * v_sigma, gy = (r[3] * dx + r[4] * dy) * v_sigma;
    g[0] += gx;
    g[1] += gy;
    g[2] += T(0.5) * dx * dx * v_sigma;
    g[3] += dx * dy * v_sigma;
    g[4] += T(0.5) * dy * dy * v_sigma;
    g[6 + C] += fabs(gx);
    g[7 + C] += fabs(gy);
  }
}
