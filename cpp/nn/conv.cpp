// Inference convolutions for the DPT head (nn/nn.h): one image, channels first.
//
// conv2d_raw: output pixels in tiles of `pc` columns, one parallel_for task per
// (tile): an im2col of the tile into a per-thread scratch (K = C k k rows, about
// 1 MB so it stays in L2; relu_in applied while copying), one single-threaded
// GEMM  y[:, tile] = w (O x K) @ cols (K x pc), then the epilogue (bias, residual,
// relu_out) on the tile while it is in cache, and optionally a second pointwise
// GEMM on it (the DPT head's final 1x1 conv), so the wide intermediate is never
// stored. Pointwise convs read the input in place (no im2col).
#include <algorithm>
#include <cstring>
#include <vector>

#include "core/thread_pool.h"
#include "kernels/resample.h"
#include "nn/nn.h"
#include "ops/blas.h"

namespace sc {
namespace nn {

int64_t conv_out_size(int64_t in, int64_t k, int64_t stride, int64_t pad) {
  return (in + 2 * pad - k) / stride + 1;
}

namespace {

float* thread_scratch(int slot, size_t n) {
  thread_local std::vector<float> buf[2];
  if (buf[slot].size() < n) buf[slot].resize(n);
  return buf[slot].data();
}

int64_t round_up16(int64_t a) { return (a + 15) / 16 * 16; }

// Output pixels per task: the im2col tile (K x pc) within ~3 MB (each BLAS call
// packs the O x K weights again, so tiles should not be too narrow either), and
// enough tasks for every thread.
int64_t pixel_tile(int64_t K, int64_t P) {
  const int64_t nt = std::max(1, num_threads());
  int64_t pc = std::max<int64_t>(16, (786432 / std::max<int64_t>(K, 1)) / 16 * 16);
  pc = std::min<int64_t>(pc, 1024);
  pc = std::min(pc, round_up16((P + 2 * nt - 1) / (2 * nt)));
  return std::max<int64_t>(16, pc);
}

// cols (K x pc, row stride pc) for output pixels [p0, p0 + pc) of an output
// Ho x Wo grid; row r = (c, i, j) of the kernel.
void im2col_tile(const Conv2dArgs& a, int64_t Ho, int64_t Wo, int64_t p0, int64_t pc, float* cols) {
  const int64_t k = a.k, s = a.stride, pad = a.pad, K = a.C * k * k;
  for (int64_t r = 0; r < K; ++r) {
    const int64_t c = r / (k * k), i = (r / k) % k, j = r % k;
    const float* plane = a.x + c * a.H * a.W;
    float* d = cols + r * pc;
    for (int64_t p = p0; p < p0 + pc;) {
      const int64_t oh = p / Wo, ow0 = p % Wo, ow1 = std::min(Wo, ow0 + (p0 + pc - p));
      float* dd = d + (p - p0) - ow0;  // dd[ow]
      const int64_t ih = oh * s - pad + i;
      if (ih < 0 || ih >= a.H) {
        for (int64_t ow = ow0; ow < ow1; ++ow) dd[ow] = 0.0f;
      } else {
        const float* row = plane + ih * a.W;
        // valid ow: 0 <= ow * s - pad + j < W
        int64_t lo = std::max<int64_t>(ow0, (pad - j + s - 1) / s), hi = ow1;
        if (pad - j < 0) lo = ow0;
        const int64_t lim = (a.W - 1 + pad - j) / s + 1;  // ow < lim
        if (a.W - 1 + pad - j < 0) hi = ow0;
        else hi = std::min(hi, lim);
        if (lo > hi) lo = hi;
        for (int64_t ow = ow0; ow < lo; ++ow) dd[ow] = 0.0f;
        if (s == 1) {
          const float* src = row - pad + j;
          if (a.relu_in)
            for (int64_t ow = lo; ow < hi; ++ow) dd[ow] = src[ow] > 0.0f ? src[ow] : 0.0f;
          else
            for (int64_t ow = lo; ow < hi; ++ow) dd[ow] = src[ow];
        } else {
          for (int64_t ow = lo; ow < hi; ++ow) {
            const float v = row[ow * s - pad + j];
            dd[ow] = a.relu_in && v < 0.0f ? 0.0f : v;
          }
        }
        for (int64_t ow = hi; ow < ow1; ++ow) dd[ow] = 0.0f;
      }
      p += ow1 - ow0;
    }
  }
}

}  // namespace

void conv2d_raw(const Conv2dArgs& a, float* y) {
  if (a.k < 1 || a.stride < 1 || a.pad < 0)
    throw ValueError("conv2d: bad geometry (k " + std::to_string(a.k) + ", stride " +
                     std::to_string(a.stride) + ", pad " + std::to_string(a.pad) + ")");
  const int64_t Ho = conv_out_size(a.H, a.k, a.stride, a.pad);
  const int64_t Wo = conv_out_size(a.W, a.k, a.stride, a.pad);
  if (Ho <= 0 || Wo <= 0 || a.O <= 0) return;
  ProfileScope prof("conv");
  const int64_t P = Ho * Wo, K = a.C * a.k * a.k;
  const bool direct = a.k == 1 && a.stride == 1 && a.pad == 0 && !a.relu_in;
  const int64_t pc = pixel_tile(K, P);
  const int64_t ntiles = (P + pc - 1) / pc;
  SerialBlasScope serial;
  parallel_for(ntiles, 1, [&](int64_t t0, int64_t t1) {
    for (int64_t t = t0; t < t1; ++t) {
      const int64_t p0 = t * pc, n = std::min(pc, P - p0);
      const float* B;
      int64_t ldb;
      if (direct) {
        B = a.x + p0;
        ldb = a.H * a.W;
      } else {
        float* cols = thread_scratch(0, (size_t)(K * n));
        im2col_tile(a, Ho, Wo, p0, n, cols);
        B = cols;
        ldb = n;
      }
      // first conv into y directly, or into a per-thread tile when a pointwise conv follows
      float* yt;
      int64_t ldy;
      if (a.w2) {
        yt = thread_scratch(1, (size_t)(a.O * n));
        ldy = n;
      } else {
        yt = y + p0;
        ldy = P;
      }
      if (K > 0)
        gemm_serial(false, false, a.O, n, K, 1.0f, a.w, K, B, ldb, 0.0f, yt, ldy);
      else
        for (int64_t o = 0; o < a.O; ++o) std::fill(yt + o * ldy, yt + o * ldy + n, 0.0f);
      if (a.b || a.residual || a.relu_out)
        for (int64_t o = 0; o < a.O; ++o) {
          float* row = yt + o * ldy;
          if (a.b) {
            const float bo = a.b[o];
            for (int64_t i = 0; i < n; ++i) row[i] += bo;
          }
          if (a.residual) {
            const float* res = a.residual + o * P + p0;
            for (int64_t i = 0; i < n; ++i) row[i] += res[i];
          }
          if (a.relu_out)
            for (int64_t i = 0; i < n; ++i) row[i] = row[i] > 0.0f ? row[i] : 0.0f;
        }
      if (a.w2) {
        float* y2 = y + p0;
        gemm_serial(false, false, a.O2, n, a.O, 1.0f, a.w2, a.O, yt, ldy, 0.0f, y2, P);
        if (a.b2)
          for (int64_t o = 0; o < a.O2; ++o) {
            const float bo = a.b2[o];
            for (int64_t i = 0; i < n; ++i) y2[o * P + i] += bo;
          }
      }
    }
  });
}

void conv_transpose2d_k_eq_s_raw(const float* x, int64_t C, int64_t H, int64_t W, const float* w,
                                 int64_t O, int64_t s, const float* b, float* y) {
  const int64_t P = H * W, R = O * s * s, Wo = W * s;
  if (P <= 0 || O <= 0) return;
  ProfileScope prof("conv");
  const int64_t pc = pixel_tile(R, P);
  const int64_t ntiles = (P + pc - 1) / pc;
  SerialBlasScope serial;
  parallel_for(ntiles, 1, [&](int64_t t0, int64_t t1) {
    for (int64_t t = t0; t < t1; ++t) {
      const int64_t p0 = t * pc, n = std::min(pc, P - p0);
      float* tile = thread_scratch(0, (size_t)(R * n));  // row (o, i, j), column pixel
      gemm_serial(true, false, R, n, C, 1.0f, w, R, x + p0, P, 0.0f, tile, n);
      for (int64_t o = 0; o < O; ++o) {
        const float bo = b ? b[o] : 0.0f;
        float* yo = y + o * (H * s) * Wo;
        for (int64_t i = 0; i < s; ++i)
          for (int64_t j = 0; j < s; ++j) {
            const float* row = tile + ((o * s + i) * s + j) * n;
            for (int64_t q = 0; q < n; ++q) {
              const int64_t p = p0 + q, yy = p / W, xx = p % W;
              yo[(yy * s + i) * Wo + xx * s + j] = row[q] + bo;
            }
          }
      }
    }
  });
}

void upsample2x_bilinear_raw(const float* x, int64_t C, int64_t H, int64_t W, float* y) {
  ProfileScope prof("upsample");
  const int64_t Ho = 2 * H, Wo = 2 * W;
  std::vector<ScLerp<float>> ty((size_t)Ho), tx((size_t)Wo);
  for (int64_t i = 0; i < Ho; ++i) ty[(size_t)i] = sc_bilinear_coord<float>((sc_i32)i, (sc_i32)H, (sc_i32)Ho, true);
  for (int64_t i = 0; i < Wo; ++i) tx[(size_t)i] = sc_bilinear_coord<float>((sc_i32)i, (sc_i32)W, (sc_i32)Wo, true);
  parallel_for(C * Ho, std::max<int64_t>(1, 8192 / std::max<int64_t>(Wo, 1)), [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const int64_t c = r / Ho, oy = r % Ho;
      const float* plane = x + c * H * W;
      float* out = y + r * Wo;
      const ScLerp<float> ly = ty[(size_t)oy];
      for (int64_t ox = 0; ox < Wo; ++ox) out[ox] = sc_bilinear_sample(plane, (sc_i32)W, ly, tx[(size_t)ox]);
    }
  });
}

// ---- Tensor wrappers -------------------------------------------------------------

namespace {

Tensor chw_f32(const Tensor& x, const char* fn) {
  if (!x.defined()) throw ValueError(std::string(fn) + ": x is undefined");
  Tensor t = x.detach();
  if (t.ndim() == 4) {
    if (t.shape()[0] != 1)
      throw ValueError(std::string(fn) + ": x must be (C, H, W) or (1, C, H, W), got shape " +
                       shape_str(x.shape()));
    t = t.select(0, 0);
  }
  if (t.ndim() != 3)
    throw ValueError(std::string(fn) + ": x must be (C, H, W) or (1, C, H, W), got shape " +
                     shape_str(x.shape()));
  return t.to(DType::Float32).contiguous();
}

Tensor opt_f32(const Tensor& t, const Shape& shape, const char* fn, const char* what) {
  if (!t.defined()) return t;
  if (t.shape() != shape)
    throw ValueError(std::string(fn) + ": " + what + " must have shape " + shape_str(shape) +
                     ", got " + shape_str(t.shape()));
  return t.detach().to(DType::Float32).contiguous();
}

}  // namespace

Tensor conv2d(const Tensor& x, const Tensor& w, const Tensor& b, int64_t stride, int64_t pad,
              bool relu_in, bool relu_out, const Tensor& residual, const Tensor& w2,
              const Tensor& b2) {
  Tensor X = chw_f32(x, "conv2d");
  if (!w.defined() || w.ndim() != 4 || w.shape()[1] != X.shape()[0] || w.shape()[2] != w.shape()[3])
    throw ValueError("conv2d: weight must be (O, " + std::to_string(X.shape()[0]) + ", k, k), got " +
                     (w.defined() ? shape_str(w.shape()) : std::string("undefined")));
  if (stride < 1 || pad < 0) throw ValueError("conv2d: stride must be >= 1 and pad >= 0");
  Conv2dArgs a;
  a.C = X.shape()[0];
  a.H = X.shape()[1];
  a.W = X.shape()[2];
  a.O = w.shape()[0];
  a.k = w.shape()[2];
  a.stride = stride;
  a.pad = pad;
  a.relu_in = relu_in;
  a.relu_out = relu_out;
  const int64_t Ho = conv_out_size(a.H, a.k, stride, pad), Wo = conv_out_size(a.W, a.k, stride, pad);
  if (Ho <= 0 || Wo <= 0) throw ValueError("conv2d: the kernel is larger than the padded input");
  Tensor W_ = w.detach().to(DType::Float32).contiguous();
  Tensor B = opt_f32(b, {a.O}, "conv2d", "bias");
  Tensor R = opt_f32(residual, {a.O, Ho, Wo}, "conv2d", "residual");
  Tensor W2, B2;
  if (w2.defined()) {
    if (w2.ndim() != 2 && !(w2.ndim() == 4 && w2.shape()[2] == 1 && w2.shape()[3] == 1))
      throw ValueError("conv2d: w2 must be (O2, O) or (O2, O, 1, 1), got " + shape_str(w2.shape()));
    if (w2.shape()[1] != a.O)
      throw ValueError("conv2d: w2 must have " + std::to_string(a.O) + " input channels, got " +
                       shape_str(w2.shape()));
    W2 = w2.detach().to(DType::Float32).contiguous();
    a.O2 = w2.shape()[0];
    B2 = opt_f32(b2, {a.O2}, "conv2d", "b2");
  }
  a.x = X.data<float>();
  a.w = W_.data<float>();
  a.b = B.defined() ? B.data<float>() : nullptr;
  a.residual = R.defined() ? R.data<float>() : nullptr;
  a.w2 = W2.defined() ? W2.data<float>() : nullptr;
  a.b2 = B2.defined() ? B2.data<float>() : nullptr;
  Tensor y = Tensor::empty({a.w2 ? a.O2 : a.O, Ho, Wo});
  conv2d_raw(a, y.data<float>());
  return y;
}

Tensor conv_transpose2d_k_eq_s(const Tensor& x, const Tensor& w, const Tensor& b) {
  Tensor X = chw_f32(x, "conv_transpose2d");
  if (!w.defined() || w.ndim() != 4 || w.shape()[0] != X.shape()[0] || w.shape()[2] != w.shape()[3])
    throw ValueError("conv_transpose2d: weight must be (" + std::to_string(X.shape()[0]) +
                     ", O, s, s), got " + (w.defined() ? shape_str(w.shape()) : std::string("undefined")));
  const int64_t C = X.shape()[0], H = X.shape()[1], W = X.shape()[2], O = w.shape()[1], s = w.shape()[2];
  Tensor W_ = w.detach().to(DType::Float32).contiguous();
  Tensor B = opt_f32(b, {O}, "conv_transpose2d", "bias");
  Tensor y = Tensor::empty({O, H * s, W * s});
  conv_transpose2d_k_eq_s_raw(X.data<float>(), C, H, W, W_.data<float>(), O, s,
                              B.defined() ? B.data<float>() : nullptr, y.data<float>());
  return y;
}

Tensor upsample2x_bilinear(const Tensor& x) {
  Tensor X = chw_f32(x, "upsample2x_bilinear");
  const int64_t C = X.shape()[0], H = X.shape()[1], W = X.shape()[2];
  Tensor y = Tensor::empty({C, 2 * H, 2 * W});
  upsample2x_bilinear_raw(X.data<float>(), C, H, W, y.data<float>());
  return y;
}

}  // namespace nn
}  // namespace sc
