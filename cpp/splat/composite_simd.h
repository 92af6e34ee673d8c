// CPU loops around the compositing math of kernels/composite.h, written with
// GCC/Clang vector extensions for any register width: a tile row of 16 pixels
// is Row<T, B>, R = 16 / W registers of B bytes (W lanes each): one zmm with
// AVX-512, two ymm with AVX2, four xmm with SSE2 or NEON. Per-lane state
// (transmittance, accumulated features, last index) stays in registers across
// records; the auto-vectorised portable kernels keep it in stack arrays.
//
// The arithmetic per lane is that of sc_composite_forward_row /
// sc_composite_backward_row (same formulas, same order of operations), and
// sum() adds the 16 lanes in sc_lane_sum's pairwise order, so with floating
// point contraction off (CMake compiles the row translation units with
// -ffp-contract=off) every target gives the portable kernels' bits. exp_neg
// below is sc_expf restricted to arguments in [-30, 0], where alpha is decided
// (alpha < 1/255 once sigma > ln 255); there the two agree exactly (2^n is a
// normal number, so scaling by it in one or two steps is exact).
//
// Included only by splat/rows_target.cpp, once per CPU target, inside an
// anonymous namespace (see there).
#pragma once

namespace simd {

constexpr int kLanes = SC_MAX_LANES;  // 16

template <typename T>
struct IntOf;
template <>
struct IntOf<float> {
  typedef int32_t type;
};
template <>
struct IntOf<double> {
  typedef int64_t type;
};

// 16 lanes of T in R registers of B bytes; Mask is the matching comparison result.
template <typename T, int B>
struct Row {
  static constexpr int W = B / (int)sizeof(T), R = kLanes / W;
  static_assert(W >= 1 && R * W == kLanes, "register width must divide the row");
  typedef T V __attribute__((vector_size(B)));
  V v[R];
  T lane(int j) const { return v[j / W][j % W]; }
  void set(int j, T x) { v[j / W][j % W] = x; }
};
template <typename T, int B>
struct Mask {
  typedef typename IntOf<T>::type I;
  typedef I V __attribute__((vector_size(B)));
  V v[Row<T, B>::R];
};

// Element-wise operators, one register at a time (R is a compile-time
// constant, so the loops unroll and the arrays live in registers).
#define SC_ROW_LOOP for (int h = 0; h < Row<T, B>::R; ++h)
#define SC_ROW_ARITH(op)                                                      \
  template <typename T, int B>                                                \
  inline Row<T, B> operator op(Row<T, B> a, const Row<T, B>& b) {             \
    SC_ROW_LOOP a.v[h] = a.v[h] op b.v[h];                                    \
    return a;                                                                 \
  }                                                                           \
  template <typename T, int B>                                                \
  inline Row<T, B> operator op(Row<T, B> a, T b) {                            \
    SC_ROW_LOOP a.v[h] = a.v[h] op b;                                         \
    return a;                                                                 \
  }                                                                           \
  template <typename T, int B>                                                \
  inline Row<T, B> operator op(T a, Row<T, B> b) {                            \
    SC_ROW_LOOP b.v[h] = a op b.v[h];                                         \
    return b;                                                                 \
  }
SC_ROW_ARITH(+)
SC_ROW_ARITH(-)
SC_ROW_ARITH(*)
SC_ROW_ARITH(/)
#undef SC_ROW_ARITH
#define SC_ROW_CMP(op)                                                        \
  template <typename T, int B>                                                \
  inline Mask<T, B> operator op(const Row<T, B>& a, const Row<T, B>& b) {     \
    Mask<T, B> m;                                                             \
    SC_ROW_LOOP m.v[h] = a.v[h] op b.v[h];                                    \
    return m;                                                                 \
  }                                                                           \
  template <typename T, int B>                                                \
  inline Mask<T, B> operator op(const Row<T, B>& a, T b) {                    \
    Mask<T, B> m;                                                             \
    SC_ROW_LOOP m.v[h] = a.v[h] op b;                                         \
    return m;                                                                 \
  }                                                                           \
  template <typename T, int B>                                                \
  inline Mask<T, B> operator op(T a, const Row<T, B>& b) {                    \
    Mask<T, B> m;                                                             \
    SC_ROW_LOOP m.v[h] = a op b.v[h];                                         \
    return m;                                                                 \
  }
SC_ROW_CMP(<)
SC_ROW_CMP(<=)
SC_ROW_CMP(>)
SC_ROW_CMP(>=)
#undef SC_ROW_CMP
template <typename T, int B>
inline Row<T, B> operator-(Row<T, B> a) {
  SC_ROW_LOOP a.v[h] = -a.v[h];
  return a;
}
template <typename T, int B>
inline Row<T, B>& operator+=(Row<T, B>& a, const Row<T, B>& b) {
  return a = a + b;
}
template <typename T, int B>
inline Mask<T, B> operator&(Mask<T, B> a, const Mask<T, B>& b) {
  SC_ROW_LOOP a.v[h] &= b.v[h];
  return a;
}
template <typename T, int B>
inline Mask<T, B>& operator|=(Mask<T, B>& a, const Mask<T, B>& b) {
  SC_ROW_LOOP a.v[h] |= b.v[h];
  return a;
}
template <typename T, int B>
inline Mask<T, B> operator~(Mask<T, B> a) {
  SC_ROW_LOOP a.v[h] = ~a.v[h];
  return a;
}
template <typename T, int B>
inline Row<T, B> select(const Mask<T, B>& m, const Row<T, B>& a, const Row<T, B>& b) {
  Row<T, B> r;
  SC_ROW_LOOP r.v[h] = m.v[h] ? a.v[h] : b.v[h];
  return r;
}
template <typename T, int B>
inline bool any(const Mask<T, B>& m) {
  typename Mask<T, B>::V o = m.v[0];
  for (int h = 1; h < Row<T, B>::R; ++h) o |= m.v[h];
  typename Mask<T, B>::V z{};
  return std::memcmp(&o, &z, sizeof(o)) != 0;
}
template <typename T, int B>
inline Row<T, B> splat(T x) {
  Row<T, B> r;
  SC_ROW_LOOP r.v[h] = typename Row<T, B>::V{} + x;
  return r;
}
template <typename T, int B>
inline Row<T, B> iota() {
  Row<T, B> r;
  for (int j = 0; j < kLanes; ++j) r.set(j, T(j));
  return r;
}
template <typename T, int B>
inline Row<T, B> abs(const Row<T, B>& a) {
  return select(a < T(0), -a, a);
}
#undef SC_ROW_LOOP

// The 16 lanes summed in sc_lane_sum's pairwise order (lane j + lane j + 8,
// then + 4, + 2, + 1): first across registers, then by halving the last one.
template <typename T, int N, typename Vec>
inline T halving_sum(Vec v) {
  if constexpr (N == 1) {
    return v[0];
  } else {
    typedef T H __attribute__((vector_size(N / 2 * sizeof(T))));
    H lo, hi;
    std::memcpy(&lo, &v, sizeof(H));
    std::memcpy(&hi, reinterpret_cast<const char*>(&v) + sizeof(H), sizeof(H));
    return halving_sum<T, N / 2>(lo + hi);
  }
}
template <typename T, int B>
inline T sum(Row<T, B> x) {
  for (int s = Row<T, B>::R / 2; s >= 1; s /= 2)
    for (int h = 0; h < s; ++h) x.v[h] += x.v[h + s];
  return halving_sum<T, Row<T, B>::W>(x.v[0]);
}

// out[s] += sum(x[s]) for the N rows x[0..N), each sum in sum()'s order (so
// the same bits) but W rows at a time: after the adds across registers, W
// registers are halved pairwise by shuffles, each add halving two rows at
// once, down to one register holding the W sums (log2 W levels instead of W
// separate horizontal sums). Row j of a group starts at position
// bit_reverse(j), which brings the sums out in order.
constexpr int bit_reverse(int j, int W) {
  int r = 0;
  for (int b = 1; b < W; b <<= 1, j >>= 1) r = (r << 1) | (j & 1);
  return r;
}
// Lanes [2h m, 2h m + h) of the result take lanes [2h m, 2h m + h) of p, the
// next h lanes those of q; the partner lanes (+ h) are added to them.
constexpr int low_lane(int W, int h, int i) {
  return i % (2 * h) < h ? i : W + i - h;
}
template <int W, int h, typename Vec, int... I>
inline Vec halve_pair(Vec p, Vec q, std::integer_sequence<int, I...>) {
  return __builtin_shufflevector(p, q, low_lane(W, h, I)...) +
         __builtin_shufflevector(p, q, (low_lane(W, h, I) + h)...);
}
template <int W, int h, typename Vec>
inline void halve_all(Vec* u) {  // 2h registers -> h
  if constexpr (h >= 1) {
    for (int k = 0; k < h; ++k) u[k] = halve_pair<W, h>(u[2 * k], u[2 * k + 1], std::make_integer_sequence<int, W>{});
    halve_all<W, h / 2>(u);
  }
}
template <typename T, int B, int N>
inline void add_sums(Row<T, B>* x, T* out) {
  typedef typename Row<T, B>::V Vec;
  constexpr int W = Row<T, B>::W, R = Row<T, B>::R;
  for (int g = 0; g < N; g += W) {
    Vec u[W];
    for (int j = 0; j < W; ++j) {
      Vec v = Vec{};
      if (g + j < N) {
        Row<T, B>& r = x[g + j];
        for (int s = R / 2; s >= 1; s /= 2)
          for (int h = 0; h < s; ++h) r.v[h] += r.v[h + s];
        v = r.v[0];
      }
      u[bit_reverse(j, W)] = v;
    }
    if constexpr (W > 1) halve_all<W, W / 2>(u);
    for (int i = 0; i < W && g + i < N; ++i) out[g + i] += u[0][i];
  }
}

// exp(x) for x in [-30, 0] (clamped here): Cephes' expf as in sc_expf.
template <int B>
inline Row<float, B> exp_neg(Row<float, B> x) {
  typedef typename Mask<float, B>::V I;
  for (int h = 0; h < Row<float, B>::R; ++h) {
    typedef typename Row<float, B>::V V;
    V xh = x.v[h];
    xh = xh < -30.0f ? V{} - 30.0f : xh;
    xh = xh > 0.0f ? V{} : xh;
    V f = xh * 1.44269504088896341f + 12582912.0f;
    I ni = (I)f - 0x4B400000;
    V n = f - 12582912.0f;
    V r = xh - n * 0.693359375f;
    r = r - n * -2.12194440e-4f;
    V p = V{} + 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    V y = p * r * r + r + 1.0f;
    x.v[h] = y * (V)((ni + 127) << 23);  // 2^n, n in [-44, 0]: normal
  }
  return x;
}
template <int B>
inline Row<double, B> exp_neg(Row<double, B> x) {
  for (int j = 0; j < kLanes; ++j) {
    double e = x.lane(j);
    x.set(j, std::exp(e < -700.0 ? -700.0 : (e > 0.0 ? 0.0 : e)));
  }
  return x;
}

// sigma = 0.5 (A dx^2 + C dy^2) + B dx dy, as sc_splat_sigma.
template <typename T, int B>
inline Row<T, B> sigma_of(const T* r, const Row<T, B>& dx, T dy) {
  return T(0.5) * (r[2] * dx * dx + r[4] * dy * dy) + r[3] * dx * dy;
}

// Forward of one 16-pixel row over the records idx[0..n) (see
// sc_composite_forward_row for the contract; lanes >= `lanes` start finished).
// NC > 0: compiled for C == NC channels, so the per-channel state can stay in
// registers; NC = 0: any C.
template <typename T, int B, int NC = 0>
inline void forward_row(T px0, T py, int lanes, int n, int C, const T* recs, const int* idx,
                        T alpha_max, T* acc, T* trans, int* last) {
  typedef Row<T, B> V;
  typedef Mask<T, B> M;
  if constexpr (NC > 0) C = NC;
  const int stride = sc_record_stride(C);
  const V px = iota<T, B>() + px0;
  V Tr = splat<T, B>(T(1)), lastk = splat<T, B>(T(0));
  M done = iota<T, B>() >= T(lanes);
  V accv[NC > 0 ? NC : SC_MAX_CHANNELS];
  for (int c = 0; c < C; ++c) accv[c] = splat<T, B>(T(0));
  for (int k = 0; k < n; ++k) {
    const T* r = recs + (int64_t)idx[k] * stride;
    T dy = r[1] - py;
    V dx = r[0] - px;
    V sigma = sigma_of(r, dx, dy);
    V a = r[5] * exp_neg(-sigma);
    a = select(a < alpha_max, a, splat<T, B>(alpha_max));
    M valid = ~done & (sigma >= T(0)) & (a >= T(SC_ALPHA_THRESHOLD));
    if (!any(valid)) continue;
    V next = Tr * (T(1) - a);
    M stop = valid & (next <= T(SC_TRANSMITTANCE_EPS));
    M add = valid & ~stop;
    V w = select(add, a * Tr, splat<T, B>(T(0)));
    Tr = select(add, next, Tr);
    lastk = select(add, splat<T, B>(T(k + 1)), lastk);
    for (int c = 0; c < C; ++c) accv[c] += r[6 + c] * w;
    done |= stop;
    if (!any(~done)) break;
  }
  for (int j = 0; j < lanes; ++j) {
    trans[j] = Tr.lane(j);
    last[j] = (int)lastk.lane(j);
    for (int c = 0; c < C; ++c) acc[j * C + c] = accv[c].lane(j);
  }
}

// Backward of forward_row (see sc_composite_backward_row for the contract).
template <typename T, int B, int NC = 0>
inline void backward_row(T px0, T py, int lanes, int C, const T* recs, const int* idx, T alpha_max,
                         const T* trans_final, const int* last, const T* v_out, const T* v_alpha,
                         const T* bg, T* grads) {
  typedef Row<T, B> V;
  typedef Mask<T, B> M;
  if constexpr (NC > 0) C = NC;
  const int stride = sc_record_stride(C), gstride = sc_grad_stride(C);
  const V px = iota<T, B>() + px0;
  V Tr, lastv, va_out;
  V vo[NC > 0 ? NC : SC_MAX_CHANNELS], behind[NC > 0 ? NC : SC_MAX_CHANNELS];
  int kmax = 0;
  for (int j = 0; j < kLanes; ++j) {
    bool in = j < lanes;
    Tr.set(j, in ? trans_final[j] : T(1));
    lastv.set(j, in ? T(last[j]) : T(0));
    va_out.set(j, in ? v_alpha[j] : T(0));
    if (in) kmax = last[j] > kmax ? last[j] : kmax;
  }
  const V Tf = Tr;
  for (int c = 0; c < C; ++c)
    for (int j = 0; j < kLanes; ++j) {
      bool in = j < lanes;
      vo[c].set(j, in ? v_out[j * C + c] : T(0));
      behind[c].set(j, in ? trans_final[j] * bg[c] : T(0));
    }
  const V zero = splat<T, B>(T(0));
  for (int k = kmax - 1; k >= 0; --k) {
    const T* r = recs + (int64_t)idx[k] * stride;
    T dy = r[1] - py;
    V dx = r[0] - px;
    V sigma = sigma_of(r, dx, dy);
    V g = exp_neg(-sigma);
    V a_raw = r[5] * g;
    V a = select(a_raw < alpha_max, a_raw, splat<T, B>(alpha_max));
    M active = (T(k) < lastv) & (sigma >= T(0)) & (a >= T(SC_ALPHA_THRESHOLD));
    if (!any(active)) continue;
    V inv = T(1) / (T(1) - a);
    V Tk = select(active, Tr * inv, Tr);  // transmittance in front of record k
    Tr = Tk;
    V w = select(active, a * Tk, zero);
    // d alpha_out / d alpha_k = T_final / (1 - alpha_k)
    V v_a = va_out * Tf * inv;
    // per-lane terms of the record's gradient slots (sc_grad_stride order)
    V l[8 + (NC > 0 ? NC : SC_MAX_CHANNELS)];
    for (int c = 0; c < C; ++c) {
      T f = r[6 + c];
      // d out_c / d alpha_k = f_kc T_k - behind_c / (1 - alpha_k)
      l[6 + c] = w * vo[c];
      v_a += vo[c] * (f * Tk - behind[c] * inv);
      behind[c] += f * w;
    }
    // alpha = opacity * G unless clamped at alpha_max
    V va = select(active & (a_raw < alpha_max), v_a, zero);
    V v_sigma = -va * r[5] * g;
    V gx = (r[2] * dx + r[3] * dy) * v_sigma, gy = (r[3] * dx + r[4] * dy) * v_sigma;
    l[0] = gx;
    l[1] = gy;
    l[2] = T(0.5) * dx * dx * v_sigma;
    l[3] = dx * dy * v_sigma;
    l[4] = T(0.5) * dy * dy * v_sigma;
    l[5] = va * g;
    l[6 + C] = abs(gx);
    l[7 + C] = abs(gy);
    T* gk = grads + (int64_t)idx[k] * gstride;
    if constexpr (NC > 0) {
      add_sums<T, B, 8 + NC>(l, gk);
    } else {
      for (int s = 0; s < gstride; ++s) gk[s] += sum(l[s]);
    }
  }
}

}  // namespace simd
