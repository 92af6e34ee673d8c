// CPU loops around the compositing math of kernels/composite.h, written with
// GCC/Clang vector extensions: a tile row of 16 pixels is one vector, and the
// per-lane state (transmittance, accumulated features, last index) stays in
// registers across records. The auto-vectorised portable kernels keep that
// state in stack arrays and run at about a third of this speed.
//
// The arithmetic per lane is that of sc_composite_forward_row /
// sc_composite_backward_row (same formulas, same order of the per-record
// updates); the tests compare both against a float64 reference. Only the exp
// differs: exp_neg below is sc_expf's polynomial restricted to arguments in
// [-30, 0], where alpha is decided (alpha < 1/255 once sigma > ln 255).
#pragma once
#include <cmath>
#include <cstdint>
#include <cstring>

#include "kernels/composite.h"

namespace sc::simd {

constexpr int kLanes = SC_MAX_LANES;  // 16

template <typename T>
struct Lanes;
template <>
struct Lanes<float> {
  typedef float V __attribute__((vector_size(kLanes * sizeof(float))));
  typedef int32_t M __attribute__((vector_size(kLanes * sizeof(int32_t))));
};
template <>
struct Lanes<double> {
  typedef double V __attribute__((vector_size(kLanes * sizeof(double))));
  typedef int64_t M __attribute__((vector_size(kLanes * sizeof(int64_t))));
};

template <typename T>
using V = typename Lanes<T>::V;
template <typename T>
using M = typename Lanes<T>::M;

template <typename T>
inline V<T> splat(T x) {
  return V<T>{} + x;
}
template <typename T>
inline V<T> iota() {
  V<T> v;
  for (int j = 0; j < kLanes; ++j) v[j] = T(j);
  return v;
}
template <typename T>
inline V<T> load(const T* p) {
  V<T> v;
  std::memcpy(&v, p, sizeof(v));
  return v;
}
template <typename T>
inline bool any(M<T> m) {
  M<T> z{};
  return std::memcmp(&m, &z, sizeof(m)) != 0;
}
// Horizontal sum in sc_lane_sum's pairwise order (v[j] + v[j + 8], then + 4,
// + 2, + 1), by halving the vector: extracts and adds, no trip through memory.
template <typename T, int N>
struct Half {
  typedef T H __attribute__((vector_size(N / 2 * sizeof(T))));
};
template <typename T, int N, typename W>
inline T halving_sum(W v) {
  if constexpr (N == 1) {
    return v[0];
  } else {
    typedef typename Half<T, N>::H H;
    H lo, hi;
    std::memcpy(&lo, &v, sizeof(H));
    std::memcpy(&hi, reinterpret_cast<const char*>(&v) + sizeof(H), sizeof(H));
    return halving_sum<T, N / 2>(lo + hi);
  }
}
template <typename T>
inline T sum(V<T> v) {
  return halving_sum<T, kLanes>(v);
}

// exp(x) for x in [-30, 0] (callers clamp): Cephes' expf as in sc_expf.
inline V<float> exp_neg(V<float> x) {
  typedef int32_t I __attribute__((vector_size(kLanes * sizeof(int32_t))));
  x = x < -30.0f ? splat(-30.0f) : x;
  x = x > 0.0f ? splat(0.0f) : x;
  V<float> f = x * 1.44269504088896341f + 12582912.0f;
  I ni = (I)f - 0x4B400000;
  V<float> n = f - 12582912.0f;
  V<float> r = x - n * 0.693359375f;
  r = r - n * -2.12194440e-4f;
  V<float> p = splat(1.9875691500e-4f);
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  V<float> y = p * r * r + r + 1.0f;
  return y * (V<float>)((ni + 127) << 23);  // 2^n, n in [-44, 0]: normal
}
inline V<double> exp_neg(V<double> x) {
  V<double> e;
  for (int j = 0; j < kLanes; ++j) e[j] = std::exp(x[j] < -700.0 ? -700.0 : (x[j] > 0.0 ? 0.0 : x[j]));
  return e;
}

// Forward of one 16-pixel row over the records idx[0..n) (see
// sc_composite_forward_row for the contract; lanes >= `lanes` start finished).
template <typename T>
inline void forward_row(T px0, T py, int lanes, int n, int C, const T* recs, const int* idx,
                        T alpha_max, T* acc, T* trans, int* last) {
  const int stride = sc_record_stride(C);
  const V<T> px = iota<T>() + px0;
  V<T> Tr = splat(T(1)), lastk = splat(T(0));
  M<T> done = iota<T>() >= T(lanes);
  V<T> accv[SC_MAX_CHANNELS];
  for (int c = 0; c < C; ++c) accv[c] = splat(T(0));
  for (int k = 0; k < n; ++k) {
    const T* r = recs + (int64_t)idx[k] * stride;
    T dy = r[1] - py;
    V<T> dx = r[0] - px;
    V<T> sigma = T(0.5) * (r[2] * dx * dx + r[4] * dy * dy) + r[3] * dx * dy;
    V<T> a = r[5] * exp_neg(-sigma);
    a = a < alpha_max ? a : splat(alpha_max);
    M<T> valid = ~done & (sigma >= T(0)) & (a >= T(SC_ALPHA_THRESHOLD));
    if (!any<T>(valid)) continue;
    V<T> next = Tr * (T(1) - a);
    M<T> stop = valid & (next <= T(SC_TRANSMITTANCE_EPS));
    M<T> add = valid & ~stop;
    V<T> w = add ? a * Tr : splat(T(0));
    Tr = add ? next : Tr;
    lastk = add ? splat(T(k + 1)) : lastk;
    for (int c = 0; c < C; ++c) accv[c] += r[6 + c] * w;
    done |= stop;
    if (!any<T>(~done)) break;
  }
  for (int j = 0; j < lanes; ++j) {
    trans[j] = Tr[j];
    last[j] = (int)lastk[j];
    for (int c = 0; c < C; ++c) acc[j * C + c] = accv[c][j];
  }
}

// Backward of forward_row (see sc_composite_backward_row for the contract).
template <typename T>
inline void backward_row(T px0, T py, int lanes, int C, const T* recs, const int* idx, T alpha_max,
                         const T* trans_final, const int* last, const T* v_out, const T* v_alpha,
                         const T* bg, T* grads) {
  const int stride = sc_record_stride(C), gstride = sc_grad_stride(C);
  const V<T> px = iota<T>() + px0;
  V<T> Tr, lastv, va_out;
  V<T> vo[SC_MAX_CHANNELS], behind[SC_MAX_CHANNELS];
  int kmax = 0;
  for (int j = 0; j < kLanes; ++j) {
    bool in = j < lanes;
    Tr[j] = in ? trans_final[j] : T(1);
    lastv[j] = in ? T(last[j]) : T(0);
    va_out[j] = in ? v_alpha[j] : T(0);
    if (in) kmax = last[j] > kmax ? last[j] : kmax;
  }
  const V<T> Tf = Tr;
  for (int c = 0; c < C; ++c)
    for (int j = 0; j < kLanes; ++j) {
      bool in = j < lanes;
      vo[c][j] = in ? v_out[j * C + c] : T(0);
      behind[c][j] = in ? trans_final[j] * bg[c] : T(0);
    }
  const V<T> zero = splat(T(0));
  for (int k = kmax - 1; k >= 0; --k) {
    const T* r = recs + (int64_t)idx[k] * stride;
    T dy = r[1] - py;
    V<T> dx = r[0] - px;
    V<T> sigma = T(0.5) * (r[2] * dx * dx + r[4] * dy * dy) + r[3] * dx * dy;
    V<T> g = exp_neg(-sigma);
    V<T> a_raw = r[5] * g;
    V<T> a = a_raw < alpha_max ? a_raw : splat(alpha_max);
    M<T> active = (T(k) < lastv) & (sigma >= T(0)) & (a >= T(SC_ALPHA_THRESHOLD));
    if (!any<T>(active)) continue;
    V<T> inv = T(1) / (T(1) - a);
    V<T> Tk = active ? Tr * inv : Tr;  // transmittance in front of record k
    Tr = Tk;
    V<T> w = active ? a * Tk : zero;
    // d alpha_out / d alpha_k = T_final / (1 - alpha_k)
    V<T> v_a = va_out * Tf * inv;
    T* gk = grads + (int64_t)idx[k] * gstride;
    for (int c = 0; c < C; ++c) {
      T f = r[6 + c];
      // d out_c / d alpha_k = f_kc T_k - behind_c / (1 - alpha_k)
      gk[6 + c] += sum<T>(w * vo[c]);
      v_a += vo[c] * (f * Tk - behind[c] * inv);
      behind[c] += f * w;
    }
    // alpha = opacity * G unless clamped at alpha_max
    V<T> va = (active & (a_raw < alpha_max)) ? v_a : zero;
    V<T> v_sigma = -va * r[5] * g;
    V<T> gx = (r[2] * dx + r[3] * dy) * v_sigma, gy = (r[3] * dx + r[4] * dy) * v_sigma;
    gk[0] += sum<T>(gx);
    gk[1] += sum<T>(gy);
    gk[2] += sum<T>(T(0.5) * dx * dx * v_sigma);
    gk[3] += sum<T>(dx * dy * v_sigma);
    gk[4] += sum<T>(T(0.5) * dy * dy * v_sigma);
    gk[5] += sum<T>(va * g);
    gk[6 + C] += sum<T>(gx < T(0) ? -gx : gx);
    gk[7 + C] += sum<T>(gy < T(0) ? -gy : gy);
  }
}

}  // namespace sc::simd
