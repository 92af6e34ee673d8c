// Alpha compositing of depth-sorted 2D Gaussians over a row of pixels, forward
// and backward (3DGS, Kerbl et al. 2023, eq. 3; gsplat's conventions).
//
// A tile's Gaussians are gathered, front to back, into records of stride
// sc_record_stride(C): [mx, my, A, B, Cc, opacity, f_0 .. f_{C-1}] where
// (A, B, Cc) is the conic and f the C feature channels (RGB, depth, ...).
// Pixel centres are (x + 0.5, y + 0.5). The functions work on `lanes`
// (<= SC_MAX_LANES) adjacent pixels of one row at once: the CPU runs a 16-pixel
// tile row per call so the lane loops vectorise; a GPU thread can call them
// with lanes = 1. Per lane the arithmetic is exactly the per-pixel one.
//
// `idx` (may be null) lists the records that can reach the row, in order:
// record idx[k] is the k-th visited, and `last` counts positions in that list.
// The host builds these per-row lists once per tile (a record typically
// reaches 1-3 of a tile's 16 rows), which saves testing every record against
// every row; with idx null every record is visited and tested here.
#pragma once
#include "kernels/compat.h"
#include "kernels/elementwise.h"

#define SC_ALPHA_THRESHOLD (1.0f / 255.0f)  // skip fainter contributions
#define SC_TRANSMITTANCE_EPS 1e-4f          // stop once T would fall to this
#define SC_MAX_LANES 16
#define SC_MAX_CHANNELS 16

SC_FN int sc_record_stride(int channels) { return 6 + channels; }
// Per-record gradient slots: v_mx, v_my, v_A, v_B, v_C, v_opacity, v_f[C],
// then |v_mx|, |v_my| summed per pixel (for densification's absgrad).
SC_FN int sc_grad_stride(int channels) { return 8 + channels; }

// Sum of SC_MAX_LANES (16) values by a fixed pairwise tree (overwrites v). A
// running scalar sum would pin the order and keep compilers from vectorising
// the lane loops that feed it; this order is the same on every backend.
template <typename T>
SC_FN T sc_lane_sum(SC_THREAD T* v) {
  for (int j = 0; j < 8; ++j) v[j] += v[j + 8];
  for (int j = 0; j < 4; ++j) v[j] += v[j + 4];
  for (int j = 0; j < 2; ++j) v[j] += v[j + 2];
  return v[0] + v[1];
}

// sigma = 0.5 (A dx^2 + C dy^2) + B dx dy for d = mean - pixel.
template <typename T>
SC_FN T sc_splat_sigma(SC_DEVICE const T* rec, T dx, T dy) {
  return T(0.5) * (rec[2] * dx * dx + rec[4] * dy * dy) + rec[3] * dx * dy;
}

// True when record `rec` cannot reach alpha >= 1/255 anywhere on the row y = py:
// over all x, sigma >= 0.5 dy^2 (C - B^2 / A). Conservative (a 0.1% margin), so
// it never drops a pair that the per-pixel test would keep.
template <typename T>
SC_FN bool sc_splat_misses_row(SC_DEVICE const T* rec, T py) {
  T dy = rec[1] - py;
  T A = rec[2];
  if (!(A > T(0))) return false;
  T sigma_min = T(0.5) * dy * dy * (rec[4] - rec[3] * rec[3] / A);
  return rec[5] * sc_exp(-sigma_min) < T(SC_ALPHA_THRESHOLD) * T(0.999);
}

// Front-to-back compositing of n records for `lanes` pixels starting at
// (px0, py), px0 a pixel centre. acc[lane * C + c] receives the premultiplied
// features (no background), trans[lane] the final transmittance, last[lane]
// how many records were walked up to and including the last contributor
// (0: none), which the backward replays. (Lane loops run the full
// SC_MAX_LANES with 0/1 masks of type T so that compilers vectorise them;
// lanes past `lanes` start finished.)
template <typename T>
SC_FN void sc_composite_forward_row(T px0, T py, int lanes, int n, int C, SC_DEVICE const T* recs,
                                    SC_DEVICE const int* idx, T alpha_max, SC_THREAD T* acc, SC_THREAD T* trans,
                                    SC_THREAD int* last) {
  int stride = sc_record_stride(C);
  T Tr[SC_MAX_LANES], done[SC_MAX_LANES], lastf[SC_MAX_LANES], w[SC_MAX_LANES];
  T accl[SC_MAX_CHANNELS * SC_MAX_LANES];  // channel-major: accl[c * lanes + j]
  for (int j = 0; j < SC_MAX_LANES; ++j) {
    Tr[j] = T(1);
    done[j] = j < lanes ? T(0) : T(1);
    lastf[j] = T(0);
  }
  for (int i = 0; i < C * SC_MAX_LANES; ++i) accl[i] = T(0);
  for (int k = 0; k < n; ++k) {
    SC_DEVICE const T* r = recs + (idx ? idx[k] : k) * stride;
    if (!idx && sc_splat_misses_row(r, py)) continue;
    T dy = r[1] - py;
    T kk = T(k + 1);
    T done_now[SC_MAX_LANES];
    for (int j = 0; j < SC_MAX_LANES; ++j) {
      T dx = r[0] - (px0 + T(j));
      T sigma = sc_splat_sigma(r, dx, dy);
      T a = r[5] * sc_exp(-sigma);
      a = a < alpha_max ? a : alpha_max;
      T valid = (done[j] == T(0) && sigma >= T(0) && a >= T(SC_ALPHA_THRESHOLD)) ? T(1) : T(0);
      T next = Tr[j] * (T(1) - a);
      T stop = (valid != T(0) && next <= T(SC_TRANSMITTANCE_EPS)) ? T(1) : T(0);  // not added
      T add = valid - stop;
      w[j] = add * a * Tr[j];
      Tr[j] = add != T(0) ? next : Tr[j];
      lastf[j] = add != T(0) ? kk : lastf[j];
      done[j] = done[j] + stop;
      done_now[j] = done[j];
    }
    for (int c = 0; c < C; ++c) {
      T f = r[6 + c];
      for (int j = 0; j < SC_MAX_LANES; ++j) accl[c * SC_MAX_LANES + j] += f * w[j];
    }
    if (sc_lane_sum(done_now) == T(SC_MAX_LANES)) break;
  }
  for (int j = 0; j < lanes; ++j) {
    trans[j] = Tr[j];
    last[j] = (int)lastf[j];
    for (int c = 0; c < C; ++c) acc[j * C + c] = accl[c * SC_MAX_LANES + j];
  }
}

// Backward of sc_composite_forward_row: walks the records back to front from
// the saved final transmittances, adding into grads[record * sc_grad_stride(C) + slot].
// v_out[lane * C + c]: gradient of the output features (output = acc + T_final
// * bg); v_alpha[lane]: of alpha = 1 - T_final. The background's own gradient,
// T_final * v_out, is summed by the caller.
template <typename T>
SC_FN void sc_composite_backward_row(T px0, T py, int lanes, int C, SC_DEVICE const T* recs,
                                     SC_DEVICE const int* idx, T alpha_max, SC_THREAD const T* trans_final,
                                     SC_THREAD const int* last, SC_THREAD const T* v_out,
                                     SC_THREAD const T* v_alpha, SC_THREAD const T* bg,
                                     SC_DEVICE T* grads) {
  int stride = sc_record_stride(C), gstride = sc_grad_stride(C);
  T Tr[SC_MAX_LANES], Tf[SC_MAX_LANES], lastf[SC_MAX_LANES], va_out[SC_MAX_LANES];
  // channel-major [c * SC_MAX_LANES + j]: output gradients, and the features
  // composited behind the current record plus T_final * bg
  T vo[SC_MAX_CHANNELS * SC_MAX_LANES], behind[SC_MAX_CHANNELS * SC_MAX_LANES];
  int kmax = 0;
  for (int j = 0; j < SC_MAX_LANES; ++j) {
    bool in = j < lanes;
    Tr[j] = in ? trans_final[j] : T(1);
    Tf[j] = Tr[j];
    lastf[j] = in ? T(last[j]) : T(0);
    va_out[j] = in ? v_alpha[j] : T(0);
    for (int c = 0; c < C; ++c) {
      vo[c * SC_MAX_LANES + j] = in ? v_out[j * C + c] : T(0);
      behind[c * SC_MAX_LANES + j] = in ? trans_final[j] * bg[c] : T(0);
    }
    if (in) kmax = last[j] > kmax ? last[j] : kmax;
  }
  for (int k = kmax - 1; k >= 0; --k) {
    int kr = idx ? idx[k] : k;
    SC_DEVICE const T* r = recs + kr * stride;
    if (!idx && sc_splat_misses_row(r, py)) continue;
    T dy = r[1] - py;
    T kf = T(k);
    // per-lane terms of the record's gradient, summed by sc_lane_sum
    T l_mx[SC_MAX_LANES], l_my[SC_MAX_LANES], l_A[SC_MAX_LANES], l_B[SC_MAX_LANES];
    T l_C[SC_MAX_LANES], l_op[SC_MAX_LANES], l_ax[SC_MAX_LANES], l_ay[SC_MAX_LANES];
    T l_f[SC_MAX_LANES];
    T w[SC_MAX_LANES], inv1m[SC_MAX_LANES], Tk[SC_MAX_LANES], v_a[SC_MAX_LANES];
    T dxs[SC_MAX_LANES], G[SC_MAX_LANES], unclamped[SC_MAX_LANES];
    for (int j = 0; j < SC_MAX_LANES; ++j) {
      T dx = r[0] - (px0 + T(j));
      T sigma = sc_splat_sigma(r, dx, dy);
      T g = sc_exp(-sigma);
      T a_raw = r[5] * g;
      T a = a_raw < alpha_max ? a_raw : alpha_max;
      T active = (kf < lastf[j] && sigma >= T(0) && a >= T(SC_ALPHA_THRESHOLD)) ? T(1) : T(0);
      T inv = T(1) / (T(1) - a);
      T t_k = active != T(0) ? Tr[j] * inv : Tr[j];  // transmittance in front of record k
      Tr[j] = t_k;
      Tk[j] = t_k;
      inv1m[j] = inv;
      w[j] = active * a * t_k;
      // d alpha_out / d alpha_k = T_final / (1 - alpha_k)
      v_a[j] = va_out[j] * Tf[j] * inv;
      dxs[j] = dx;
      G[j] = g;
      unclamped[j] = (active != T(0) && a_raw < alpha_max) ? T(1) : T(0);
    }
    SC_DEVICE T* gk = grads + kr * gstride;
    for (int c = 0; c < C; ++c) {
      T f = r[6 + c];
      SC_THREAD T* vc = vo + c * SC_MAX_LANES;
      SC_THREAD T* bc = behind + c * SC_MAX_LANES;
      for (int j = 0; j < SC_MAX_LANES; ++j) {
        // d out_c / d alpha_k = f_kc T_k - behind_c / (1 - alpha_k)
        l_f[j] = w[j] * vc[j];
        v_a[j] += vc[j] * (f * Tk[j] - bc[j] * inv1m[j]);
        bc[j] += f * w[j];
      }
      gk[6 + c] += sc_lane_sum(l_f);
    }
    for (int j = 0; j < SC_MAX_LANES; ++j) {
      // alpha = opacity * G unless clamped at alpha_max
      T va = unclamped[j] * v_a[j];
      T v_sigma = -va * r[5] * G[j];
      T dx = dxs[j];
      l_op[j] = va * G[j];
      T gx = (r[2] * dx + r[3] * dy) * v_sigma, gy = (r[3] * dx + r[4] * dy) * v_sigma;
      l_mx[j] = gx;
      l_my[j] = gy;
      l_A[j] = T(0.5) * dx * dx * v_sigma;
      l_B[j] = dx * dy * v_sigma;
      l_C[j] = T(0.5) * dy * dy * v_sigma;
      l_ax[j] = fabs(gx);
      l_ay[j] = fabs(gy);
    }
    gk[0] += sc_lane_sum(l_mx);
    gk[1] += sc_lane_sum(l_my);
    gk[2] += sc_lane_sum(l_A);
    gk[3] += sc_lane_sum(l_B);
    gk[4] += sc_lane_sum(l_C);
    gk[5] += sc_lane_sum(l_op);
    gk[6 + C] += sc_lane_sum(l_ax);
    gk[7 + C] += sc_lane_sum(l_ay);
  }
}
