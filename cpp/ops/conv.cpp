// conv2d and conv_transpose2d through im2col / col2im and gemm, with backward.
//
// Everything is phrased for one "conv space" geometry: input (N, C, H, W),
// weight (O, C/G, kh, kw), output (N, O, Ho, Wo). Three raw routines cover
// both ops:
//   conv_forward         y  = conv(x, w)
//   conv_backward_input  dx = conv^T(dy, w)     (= conv_transpose2d's forward)
//   conv_backward_weight dw = <dy, im2col(x)>
// Per image and group the product is a gemm over a column chunk of the
// im2col matrix (K = C/G*kh*kw rows, chunk of output pixels as columns) so the
// scratch stays bounded for large images. gemm runs from the calling thread
// (BLAS threads itself); im2col/col2im run in parallel_for.
#include <algorithm>
#include <cstring>
#include <vector>

#include "autograd/function.h"
#include "core/thread_pool.h"
#include "gpu/ops/gpu_ops.h"
#include "ops/blas.h"
#include "ops/ops.h"

namespace sc {

using Grads = std::vector<Tensor>;

namespace {

struct ConvGeom {
  int64_t N, C, H, W;  // input
  int64_t O, kh, kw;   // weight (O, C/G, kh, kw)
  int64_t G;           // groups
  int64_t Ho, Wo;      // output
  int64_t sh, sw, ph, pw, dh, dw;
  int64_t Cg() const { return C / G; }
  int64_t Og() const { return O / G; }
  int64_t K() const { return Cg() * kh * kw; }  // rows of the im2col matrix
  int64_t P() const { return Ho * Wo; }         // output pixels per image
  int64_t HW() const { return H * W; }
  bool pointwise() const { return kh == 1 && kw == 1 && sh == 1 && sw == 1 && ph == 0 && pw == 0; }
  // Output pixels per im2col chunk: about 4M scratch elements, at least 256 columns.
  int64_t chunk() const {
    int64_t c = std::max<int64_t>(256, (int64_t(1) << 22) / std::max<int64_t>(K(), 1));
    return std::max<int64_t>(1, std::min(c, P()));
  }
};

int64_t floor_div(int64_t a, int64_t b) {  // b > 0
  return a >= 0 ? a / b : -((-a + b - 1) / b);
}

// Output columns ow with 0 <= ow*s + off < W (off = kernel tap offset - pad),
// as [lo, hi) clipped to [0, Wo).
void valid_range(int64_t off, int64_t s, int64_t W, int64_t Wo, int64_t& lo, int64_t& hi) {
  lo = std::max<int64_t>(0, floor_div(-off + s - 1, s));   // ceil(-off / s)
  hi = std::min<int64_t>(Wo, floor_div(W - 1 - off, s) + 1);
  if (hi < lo) hi = lo;
}

// cols (K x (p1-p0)) = im2col of the Cg channel planes at xg, output pixels [p0, p1).
template <typename T>
void im2col(const T* xg, const ConvGeom& g, int64_t p0, int64_t p1, T* cols) {
  const int64_t pc = p1 - p0, khw = g.kh * g.kw;
  parallel_for(g.K(), std::max<int64_t>(1, 16384 / std::max<int64_t>(pc, 1)), [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const int64_t c = r / khw, i = (r / g.kw) % g.kh, j = r % g.kw;
      const T* plane = xg + c * g.HW();
      const int64_t offw = j * g.dw - g.pw;  // input column = ow * sw + offw
      int64_t lo, hi;
      valid_range(offw, g.sw, g.W, g.Wo, lo, hi);
      for (int64_t p = p0; p < p1;) {
        // one output row segment: columns [ow0, ow1) of output row oh
        const int64_t oh = p / g.Wo, ow0 = p % g.Wo, ow1 = std::min(g.Wo, ow0 + (p1 - p));
        T* d = cols + r * pc + (p - p0);  // d[ow - ow0]
        const int64_t ih = oh * g.sh - g.ph + i * g.dh;
        if (ih < 0 || ih >= g.H) {
          for (int64_t ow = ow0; ow < ow1; ++ow) d[ow - ow0] = T(0);
        } else {
          const T* row = plane + ih * g.W;
          const int64_t a = std::max(ow0, std::min(lo, ow1)), b = std::max(a, std::min(hi, ow1));
          for (int64_t ow = ow0; ow < a; ++ow) d[ow - ow0] = T(0);
          if (g.sw == 1) {
            if (b > a) std::memcpy(d + (a - ow0), row + a + offw, (size_t)(b - a) * sizeof(T));
          } else {
            for (int64_t ow = a; ow < b; ++ow) d[ow - ow0] = row[ow * g.sw + offw];
          }
          for (int64_t ow = b; ow < ow1; ++ow) d[ow - ow0] = T(0);
        }
        p += ow1 - ow0;
      }
    }
  });
}

// The Cg channel planes at xg += col2im(cols), output pixels [p0, p1).
// Parallel over channels: each channel only receives its own rows of cols.
template <typename T>
void col2im_add(const T* cols, const ConvGeom& g, int64_t p0, int64_t p1, T* xg) {
  const int64_t pc = p1 - p0, khw = g.kh * g.kw;
  parallel_for(g.Cg(), 1, [&](int64_t c0, int64_t c1) {
    for (int64_t c = c0; c < c1; ++c) {
      T* plane = xg + c * g.HW();
      for (int64_t t = 0; t < khw; ++t) {
        const int64_t r = c * khw + t, i = t / g.kw, j = t % g.kw;
        const int64_t offw = j * g.dw - g.pw;
        int64_t lo, hi;
        valid_range(offw, g.sw, g.W, g.Wo, lo, hi);
        for (int64_t p = p0; p < p1;) {
          const int64_t oh = p / g.Wo, ow0 = p % g.Wo, ow1 = std::min(g.Wo, ow0 + (p1 - p));
          const int64_t ih = oh * g.sh - g.ph + i * g.dh;
          if (ih >= 0 && ih < g.H) {
            const T* s = cols + r * pc + (p - p0);  // s[ow - ow0]
            T* row = plane + ih * g.W;
            const int64_t a = std::max(ow0, std::min(lo, ow1)), b = std::max(a, std::min(hi, ow1));
            for (int64_t ow = a; ow < b; ++ow) row[ow * g.sw + offw] += s[ow - ow0];
          }
          p += ow1 - ow0;
        }
      }
    }
  });
}

template <typename T>
void conv_forward(const T* x, const T* w, T* y, const ConvGeom& g) {
  const int64_t K = g.K(), P = g.P(), Og = g.Og(), Cg = g.Cg(), pcols = g.chunk();
  std::vector<T> cols(g.pointwise() ? 0 : (size_t)(K * pcols));
  for (int64_t n = 0; n < g.N; ++n)
    for (int64_t grp = 0; grp < g.G; ++grp) {
      const T* xg = x + (n * g.C + grp * Cg) * g.HW();
      const T* wg = w + grp * Og * K;
      T* yg = y + (n * g.O + grp * Og) * P;
      if (g.pointwise()) {  // the input planes are the im2col matrix
        gemm(false, false, Og, P, Cg, T(1), wg, K, xg, P, T(0), yg, P);
        continue;
      }
      for (int64_t p0 = 0; p0 < P; p0 += pcols) {
        const int64_t p1 = std::min(P, p0 + pcols), pc = p1 - p0;
        im2col(xg, g, p0, p1, cols.data());
        gemm(false, false, Og, pc, K, T(1), wg, K, cols.data(), pc, T(0), yg + p0, P);
      }
    }
}

// dx must be zero on entry (col2im accumulates).
template <typename T>
void conv_backward_input(const T* dy, const T* w, T* dx, const ConvGeom& g) {
  const int64_t K = g.K(), P = g.P(), Og = g.Og(), Cg = g.Cg(), pcols = g.chunk();
  std::vector<T> cols(g.pointwise() ? 0 : (size_t)(K * pcols));
  for (int64_t n = 0; n < g.N; ++n)
    for (int64_t grp = 0; grp < g.G; ++grp) {
      const T* dyg = dy + (n * g.O + grp * Og) * P;
      const T* wg = w + grp * Og * K;
      T* dxg = dx + (n * g.C + grp * Cg) * g.HW();
      if (g.pointwise()) {
        gemm(true, false, Cg, P, Og, T(1), wg, K, dyg, P, T(0), dxg, P);
        continue;
      }
      for (int64_t p0 = 0; p0 < P; p0 += pcols) {
        const int64_t p1 = std::min(P, p0 + pcols), pc = p1 - p0;
        gemm(true, false, K, pc, Og, T(1), wg, K, dyg + p0, P, T(0), cols.data(), pc);
        col2im_add(cols.data(), g, p0, p1, dxg);
      }
    }
}

// dw must be zero on entry (accumulated over images and chunks).
template <typename T>
void conv_backward_weight(const T* x, const T* dy, T* dw, const ConvGeom& g) {
  const int64_t K = g.K(), P = g.P(), Og = g.Og(), Cg = g.Cg(), pcols = g.chunk();
  std::vector<T> cols(g.pointwise() ? 0 : (size_t)(K * pcols));
  for (int64_t grp = 0; grp < g.G; ++grp)
    for (int64_t n = 0; n < g.N; ++n) {
      const T* xg = x + (n * g.C + grp * Cg) * g.HW();
      const T* dyg = dy + (n * g.O + grp * Og) * P;
      T* dwg = dw + grp * Og * K;
      if (g.pointwise()) {
        gemm(false, true, Og, Cg, P, T(1), dyg, P, xg, P, T(1), dwg, K);
        continue;
      }
      for (int64_t p0 = 0; p0 < P; p0 += pcols) {
        const int64_t p1 = std::min(P, p0 + pcols), pc = p1 - p0;
        im2col(xg, g, p0, p1, cols.data());
        gemm(false, true, Og, K, pc, T(1), dyg + p0, P, cols.data(), pc, T(1), dwg, K);
      }
    }
}

// y (N, O, H, W) += bias[o], in place.
template <typename T>
void add_bias(T* y, const T* b, int64_t N, int64_t O, int64_t HW) {
  parallel_for(N * O, std::max<int64_t>(1, 32768 / std::max<int64_t>(HW, 1)), [&](int64_t s, int64_t e) {
    for (int64_t k = s; k < e; ++k) {
      const T v = b[k % O];
      T* p = y + k * HW;
      for (int64_t i = 0; i < HW; ++i) p[i] += v;
    }
  });
}

// ---- GPU: per image, im2col (or col2im) kernels around a batched GEMM over the groups.
gpu::ConvShape conv_shape(const ConvGeom& g) {
  return {g.C, g.H, g.W, g.G, g.kh, g.kw, g.Ho, g.Wo, g.sh, g.sw, g.ph, g.pw, g.dh, g.dw};
}

Tensor gpu_forward(const Tensor& x, const Tensor& w, const ConvGeom& g) {
  Tensor y = Tensor::empty({g.N, g.O, g.Ho, g.Wo}, x.dtype(), x.device());
  Tensor cols = Tensor::empty({g.G, g.K(), g.P()}, x.dtype(), x.device());
  Tensor wg = w.reshape({g.G, g.Og(), g.K()});
  for (int64_t n = 0; n < g.N; ++n) {
    gpu::im2col(x.select(0, n), cols, conv_shape(g));
    gpu::batched_matmul(y.select(0, n).reshape({g.G, g.Og(), g.P()}), wg, cols);
  }
  return y;
}
Tensor gpu_backward_input(const Tensor& dy, const Tensor& w, const ConvGeom& g) {
  Tensor dx = Tensor::empty({g.N, g.C, g.H, g.W}, dy.dtype(), dy.device());
  Tensor cols = Tensor::empty({g.G, g.K(), g.P()}, dy.dtype(), dy.device());
  Tensor wt = w.reshape({g.G, g.Og(), g.K()}).transpose(1, 2).contiguous();  // (G, K, Og)
  for (int64_t n = 0; n < g.N; ++n) {
    gpu::batched_matmul(cols, wt, dy.select(0, n).reshape({g.G, g.Og(), g.P()}));
    gpu::col2im(cols, dx.select(0, n), conv_shape(g));
  }
  return dx;
}
Tensor gpu_backward_weight(const Tensor& x, const Tensor& dy, const ConvGeom& g) {
  Tensor dw = Tensor::zeros({g.G, g.Og(), g.K()}, x.dtype(), x.device());
  Tensor cols = Tensor::empty({g.G, g.K(), g.P()}, x.dtype(), x.device());
  Tensor part = Tensor::empty({g.G, g.Og(), g.K()}, x.dtype(), x.device());
  for (int64_t n = 0; n < g.N; ++n) {
    gpu::im2col(x.select(0, n), cols, conv_shape(g));
    gpu::batched_matmul(part, dy.select(0, n).reshape({g.G, g.Og(), g.P()}), cols.transpose(1, 2).contiguous());
    gpu::binary((int)BinaryOp::Add, dw, dw, part);
  }
  return dw.reshape({g.O, g.Cg(), g.kh, g.kw});
}

// Raw (non-differentiable) drivers on contiguous detached tensors.
Tensor run_forward(const Tensor& x, const Tensor& w, const ConvGeom& g) {
  if (x.device().is_gpu()) return gpu_forward(x, w, g);
  Tensor y = Tensor::empty({g.N, g.O, g.Ho, g.Wo}, x.dtype());
  SC_DISPATCH_FLOAT(x.dtype(), "conv2d", { conv_forward<scalar_t>(x.data<scalar_t>(), w.data<scalar_t>(), y.data<scalar_t>(), g); });
  return y;
}
Tensor run_backward_input(const Tensor& dy, const Tensor& w, const ConvGeom& g) {
  if (dy.device().is_gpu()) return gpu_backward_input(dy, w, g);
  Tensor dx = Tensor::zeros({g.N, g.C, g.H, g.W}, dy.dtype());
  SC_DISPATCH_FLOAT(dy.dtype(), "conv2d", { conv_backward_input<scalar_t>(dy.data<scalar_t>(), w.data<scalar_t>(), dx.data<scalar_t>(), g); });
  return dx;
}
Tensor run_backward_weight(const Tensor& x, const Tensor& dy, const ConvGeom& g) {
  if (x.device().is_gpu()) return gpu_backward_weight(x, dy, g);
  Tensor dw = Tensor::zeros({g.O, g.Cg(), g.kh, g.kw}, x.dtype());
  SC_DISPATCH_FLOAT(x.dtype(), "conv2d", { conv_backward_weight<scalar_t>(x.data<scalar_t>(), dy.data<scalar_t>(), dw.data<scalar_t>(), g); });
  return dw;
}
void run_add_bias(const Tensor& y, const Tensor& b) {
  if (y.device().is_gpu()) {  // in place: each element reads and writes only itself
    gpu::binary((int)BinaryOp::Add, y, y, b.reshape({1, b.numel(), 1, 1}));
    return;
  }
  SC_DISPATCH_FLOAT(y.dtype(), "conv2d", { add_bias<scalar_t>(y.data<scalar_t>(), b.data<scalar_t>(), y.shape()[0], y.shape()[1], y.shape()[2] * y.shape()[3]); });
}

Tensor raw(const Tensor& t) { return t.detach().contiguous(); }

// Common dtype of the operands (float only; bias may be undefined).
DType conv_dtype(const char* fn, const Tensor& x, const Tensor& w, const Tensor& b) {
  for (const Tensor* t : {&x, &w, &b})
    if (t->defined() && !is_floating(t->dtype()))
      throw TypeError(std::string(fn) + ": expected floating-point tensors, got " +
                      dtype_name(t->dtype()) + " for " + (t == &x ? "x" : t == &w ? "weight" : "bias"));
  for (const Tensor* t : {&w, &b})
    if (t->defined() && t->device() != x.device())
      throw ValueError(std::string(fn) + ": x is on " + x.device().str() + " and " +
                       (t == &w ? "weight" : "bias") + " on " + t->device().str());
  DType dt = promote(x.dtype(), w.dtype());
  if (b.defined()) dt = promote(dt, b.dtype());
  return dt;
}

void check_rank4(const char* fn, const Tensor& x, const Tensor& w, const char* wlayout) {
  if (x.ndim() != 4)
    throw ValueError(std::string(fn) + ": x must be 4-D (N, C, H, W), got shape " + shape_str(x.shape()));
  if (w.ndim() != 4)
    throw ValueError(std::string(fn) + ": weight must be 4-D " + wlayout + ", got shape " +
                     shape_str(w.shape()));
}

void check_positive(const char* fn, const char* what, int64_t a, int64_t b, int64_t min) {
  if (a < min || b < min)
    throw ValueError(std::string(fn) + ": " + what + " must be >= " + std::to_string(min) + ", got (" +
                     std::to_string(a) + ", " + std::to_string(b) + ")");
}

void check_bias(const char* fn, const Tensor& b, int64_t channels) {
  if (b.defined() && (b.ndim() != 1 || b.shape()[0] != channels))
    throw ValueError(std::string(fn) + ": bias must have shape (" + std::to_string(channels) +
                     ",), got " + shape_str(b.shape()));
}

}  // namespace

Tensor conv2d(const Tensor& x, const Tensor& w, const Tensor& bias, int64_t stride_h,
              int64_t stride_w, int64_t pad_h, int64_t pad_w, int64_t dilation_h,
              int64_t dilation_w, int64_t groups) {
  const char* fn = "conv2d";
  if (!x.defined() || !w.defined()) throw ValueError("conv2d: x and weight are required");
  check_rank4(fn, x, w, "(O, C/groups, kh, kw)");
  check_positive(fn, "stride", stride_h, stride_w, 1);
  check_positive(fn, "dilation", dilation_h, dilation_w, 1);
  check_positive(fn, "padding", pad_h, pad_w, 0);
  if (groups < 1) throw ValueError("conv2d: groups must be >= 1, got " + std::to_string(groups));
  const Shape& xs = x.shape();
  const Shape& ws = w.shape();
  if (xs[1] % groups || ws[0] % groups)
    throw ValueError("conv2d: input channels (x shape " + shape_str(xs) + ") and output channels (weight shape " +
                     shape_str(ws) + ") must be divisible by groups = " + std::to_string(groups));
  if (ws[1] != xs[1] / groups)
    throw ValueError("conv2d: weight shape " + shape_str(ws) + " expects " + std::to_string(ws[1] * groups) +
                     " input channels (weight.shape[1] * groups), but x shape " + shape_str(xs) + " has " +
                     std::to_string(xs[1]));
  check_bias(fn, bias, ws[0]);
  ConvGeom g{xs[0], xs[1], xs[2], xs[3], ws[0], ws[2], ws[3], groups, 0, 0,
             stride_h, stride_w, pad_h, pad_w, dilation_h, dilation_w};
  const int64_t ekh = dilation_h * (g.kh - 1) + 1, ekw = dilation_w * (g.kw - 1) + 1;
  if (g.kh < 1 || g.kw < 1 || g.H + 2 * pad_h < ekh || g.W + 2 * pad_w < ekw)
    throw ValueError("conv2d: kernel of size (" + std::to_string(ekh) + ", " + std::to_string(ekw) +
                     ") (dilated) does not fit the padded input: x shape " + shape_str(xs) + ", padding (" +
                     std::to_string(pad_h) + ", " + std::to_string(pad_w) + "), weight shape " + shape_str(ws));
  g.Ho = (g.H + 2 * pad_h - ekh) / stride_h + 1;
  g.Wo = (g.W + 2 * pad_w - ekw) / stride_w + 1;

  DType dt = conv_dtype(fn, x, w, bias);
  if (is_half(dt)) {
    return conv2d(x.to(DType::Float32), w.to(DType::Float32),
                  bias.defined() ? bias.to(DType::Float32) : bias, stride_h, stride_w, pad_h, pad_w,
                  dilation_h, dilation_w, groups).to(dt);
  }
  Tensor xc = x.to(dt), wc = w.to(dt), bc = bias.defined() ? bias.to(dt) : Tensor();
  Tensor xd = raw(xc), wd = raw(wc);
  Tensor y = run_forward(xd, wd, g);
  if (bc.defined()) run_add_bias(y, raw(bc));

  const bool need_x = xc.requires_grad(), need_w = wc.requires_grad();
  const bool need_b = bc.defined() && bc.requires_grad();
  return record_op1("conv2d", {xc, wc, bc}, y, [=](const Grads& gr) -> Grads {
    Tensor dy = raw(gr[0].to(dt));
    Tensor dx, dw, db;
    if (need_x) dx = run_backward_input(dy, wd, g);
    if (need_w) dw = run_backward_weight(xd, dy, g);
    if (need_b) db = sum(dy, {0, 2, 3});
    return {dx, dw, db};
  });
}

Tensor conv_transpose2d(const Tensor& x, const Tensor& w, const Tensor& bias, int64_t stride_h,
                        int64_t stride_w, int64_t pad_h, int64_t pad_w, int64_t output_padding_h,
                        int64_t output_padding_w) {
  const char* fn = "conv_transpose2d";
  if (!x.defined() || !w.defined()) throw ValueError("conv_transpose2d: x and weight are required");
  check_rank4(fn, x, w, "(C_in, C_out, kh, kw)");
  check_positive(fn, "stride", stride_h, stride_w, 1);
  check_positive(fn, "padding", pad_h, pad_w, 0);
  check_positive(fn, "output_padding", output_padding_h, output_padding_w, 0);
  if (output_padding_h >= stride_h || output_padding_w >= stride_w)
    throw ValueError("conv_transpose2d: output_padding (" + std::to_string(output_padding_h) + ", " +
                     std::to_string(output_padding_w) + ") must be smaller than stride (" +
                     std::to_string(stride_h) + ", " + std::to_string(stride_w) + ")");
  const Shape& xs = x.shape();
  const Shape& ws = w.shape();
  if (ws[0] != xs[1])
    throw ValueError("conv_transpose2d: weight shape " + shape_str(ws) + " expects " + std::to_string(ws[0]) +
                     " input channels (weight.shape[0]), but x shape " + shape_str(xs) + " has " +
                     std::to_string(xs[1]));
  check_bias(fn, bias, ws[1]);
  const int64_t Hout = (xs[2] - 1) * stride_h - 2 * pad_h + (ws[2] - 1) + output_padding_h + 1;
  const int64_t Wout = (xs[3] - 1) * stride_w - 2 * pad_w + (ws[3] - 1) + output_padding_w + 1;
  if (ws[2] < 1 || ws[3] < 1 || xs[2] < 1 || xs[3] < 1 || Hout < 1 || Wout < 1)
    throw ValueError("conv_transpose2d: output size (" + std::to_string(Hout) + ", " + std::to_string(Wout) +
                     ") is not positive for x shape " + shape_str(xs) + ", weight shape " + shape_str(ws) +
                     " and padding (" + std::to_string(pad_h) + ", " + std::to_string(pad_w) + ")");
  // The adjoint of the conv from (N, C_out, Hout, Wout) to x's shape with the same weight (O = C_in).
  ConvGeom g{xs[0], ws[1], Hout, Wout, ws[0], ws[2], ws[3], 1, xs[2], xs[3],
             stride_h, stride_w, pad_h, pad_w, 1, 1};

  DType dt = conv_dtype(fn, x, w, bias);
  if (is_half(dt)) {
    return conv_transpose2d(x.to(DType::Float32), w.to(DType::Float32),
                            bias.defined() ? bias.to(DType::Float32) : bias, stride_h, stride_w, pad_h,
                            pad_w, output_padding_h, output_padding_w).to(dt);
  }
  Tensor xc = x.to(dt), wc = w.to(dt), bc = bias.defined() ? bias.to(dt) : Tensor();
  Tensor xd = raw(xc), wd = raw(wc);
  Tensor y = run_backward_input(xd, wd, g);
  if (bc.defined()) run_add_bias(y, raw(bc));

  const bool need_x = xc.requires_grad(), need_w = wc.requires_grad();
  const bool need_b = bc.defined() && bc.requires_grad();
  return record_op1("conv_transpose2d", {xc, wc, bc}, y, [=](const Grads& gr) -> Grads {
    Tensor dy = raw(gr[0].to(dt));
    Tensor dx, dw, db;
    if (need_x) dx = run_forward(dy, wd, g);
    if (need_w) dw = run_backward_weight(dy, xd, g);
    if (need_b) db = sum(dy, {0, 2, 3});
    return {dx, dw, db};
  });
}

}  // namespace sc
