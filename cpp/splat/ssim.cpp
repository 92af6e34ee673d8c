// SSIM as one fused differentiable op (CPU backend), plus L1, PSNR and the 3DGS
// loss. Per-pixel math: kernels/ssim.h; the row loops (blurs, products,
// per-pixel terms) are compiled once per CPU target (splat/ssim_target.cpp);
// here they are streamed over the rows.
//
// Layout: the images are (B, H, W, C) row-major (B = 1 for (H, W, C)), so an
// image row of W pixels is n = W*C contiguous values and a horizontal tap
// shift of one pixel is a shift of C values. Every blur is the 1-D window
// along W (zero padding at the row ends), then along H (zero padding at the
// image's top and bottom, never across images of a batch).
//
// Both passes are streamed (stream_blur): each thread walks a block of rows,
// keeping the horizontal blurs of the last 11 rows in a small ring buffer, so
// no full-size intermediate plane is written.
// Forward:  per row: x, y, x^2, y^2, x y -> horizontal blur (into the ring);
//           vertical blur of the five planes, then the SSIM at each value
//           (kernels/ssim.h), summed per row in float64; when a gradient is
//           needed, the four partials dS/d(mu1, mu2, m11 = m22, m12) are
//           stored for the backward.
// Backward: the partials, times g/N, are blurred back with the same window
//           (the adjoint of a "same" zero-padded convolution with a symmetric
//           window is that convolution) and combined with x, y per value
//           (sc_ssim_grad_x): see kernels/ssim.h for the equations.
#include "splat/ssim.h"

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "autograd/function.h"
#include "autograd/grad_mode.h"
#include "core/profile.h"
#include "core/thread_pool.h"
#include "kernels/ssim.h"
#include "splat/ssim_kernels.h"
#include "gpu/ops/gpu_ops.h"
#include "ops/ops.h"

namespace sc {

SC_TARGET_DISPATCH(SsimTables, ssim_kernels)

namespace {

using Grads = std::vector<Tensor>;
constexpr int kR = SC_SSIM_RADIUS;
constexpr int kK = SC_SSIM_WINDOW;

struct Dims {
  int64_t B = 1, H = 0, W = 0, C = 0;
  int64_t rows() const { return B * H; }
  int64_t n() const { return W * C; }  // values per row
  int64_t numel() const { return B * H * W * C; }
};

// ---- argument checks ------------------------------------------------------------
void check_pair(const Tensor& a, const Tensor& b, const char* fn, const char* na = "img1",
                const char* nb = "img2") {
  const std::string f(fn);
  if (!a.defined() || !b.defined()) throw ValueError(f + ": both images are required");
  if (a.shape() != b.shape())
    throw ValueError(f + ": the images must have the same shape, got " + na + " " +
                     shape_str(a.shape()) + " and " + nb + " " + shape_str(b.shape()));
  DType dt = a.dtype();
  if (dt != DType::Float32 && dt != DType::Float64)
    throw TypeError(f + ": images must be float32 or float64, got " + dtype_name(dt));
  if (b.dtype() != dt)
    throw TypeError(f + ": " + na + " has dtype " + dtype_name(dt) + " but " + nb + " has " +
                    dtype_name(b.dtype()) + "; both must share one dtype");
  if (a.numel() == 0)
    throw ValueError(std::string(fn) + ": the images are empty, shape " + shape_str(a.shape()));
  if (a.device() != b.device())
    throw ValueError(f + ": " + na + " is on " + a.device().str() + " and " + nb + " on " + b.device().str());
}

Dims image_dims(const Tensor& a, const char* fn) {
  Dims d;
  const Shape& s = a.shape();
  if (s.size() == 3) {
    d.H = s[0], d.W = s[1], d.C = s[2];
  } else if (s.size() == 4) {
    d.B = s[0], d.H = s[1], d.W = s[2], d.C = s[3];
  } else {
    throw ValueError(std::string(fn) + ": images must be (H, W, C) or (B, H, W, C), got shape " +
                     shape_str(s));
  }
  return d;
}

// ---- the separable blur -----------------------------------------------------------
template <typename T>
struct Window {
  T w[kK];
  Window() {
    double d[kK];
    sc_ssim_window<double>(d);  // normalised in float64, then rounded once
    for (int k = 0; k < kK; ++k) w[k] = T(d[k]);
  }
};

// The row loops (blurs, products, per-pixel terms) of the CPU target in use:
// splat/ssim_kernels.h.
template <typename T>
const SsimKernels<T>& kernels() {
  return by_dtype<T>(ssim_kernels());
}

// Rows per parallel chunk: a chunk recomputes the horizontal blurs of 2R halo
// rows, so chunks stay long enough (>= 32 rows) for that to be cheap.
int64_t row_grain(int64_t n) { return std::max<int64_t>(32, 16384 / std::max<int64_t>(n, 1)); }

// Separable blur of P planes, streamed over the rows [r0, r1) of the (B*H)-row
// grid without materialising the horizontal pass: a ring of 11 horizontally
// blurred rows (P planes each, slot = y mod 11) stays in cache.
//   hrow(r, dst): writes the horizontal blurs of global row r, plane p at dst + p*n
//   out(r, v):    receives the full 2-D blurs of row r, plane p at v + p*n
template <typename T, typename HRow, typename Out>
void stream_blur(int64_t r0, int64_t r1, int64_t H, int64_t n, int P, const T* w, HRow&& hrow,
                 Out&& out) {
  const SsimKernels<T>& K = kernels<T>();
  std::vector<T> ring((size_t)kK * P * n), v((size_t)P * n);
  auto slot = [&](int64_t yy) { return ring.data() + (size_t)(yy % kK) * P * n; };
  int64_t cur_b = -1, next = 0;  // next: first row of image cur_b not yet blurred horizontally
  for (int64_t r = r0; r < r1; ++r) {
    const int64_t b = r / H, y = r % H;
    if (b != cur_b) {
      cur_b = b;
      next = std::max<int64_t>(0, y - kR);
    }
    for (const int64_t last = std::min<int64_t>(H - 1, y + kR); next <= last; ++next)
      hrow(b * H + next, slot(next));
    const T* rows[kK];
    for (int p = 0; p < P; ++p) {
      for (int k = 0; k < kK; ++k) {
        const int64_t yy = y + k - kR;
        rows[k] = (yy >= 0 && yy < H) ? slot(yy) + (size_t)p * n : nullptr;
      }
      K.blur_col(rows, n, v.data() + (size_t)p * n, w);
    }
    out(r, v.data());
  }
}

// Forward: returns the mean SSIM (accumulated in float64, in a fixed order so
// the result does not depend on the thread count). `partials`, when not null,
// receives 4 planes of numel values: dS/dmu1, dS/dmu2, dS/dm11 (= dS/dm22), dS/dm12.
template <typename T>
double ssim_forward(const T* x, const T* y, const Dims& d, T* partials) {
  const Window<T> win;
  const T* w = win.w;
  const int64_t N = d.numel(), n = d.n(), rows = d.rows(), H = d.H, C = d.C;
  std::vector<double> row_sum(rows, 0.0);
  parallel_for(rows, row_grain(n), [&](int64_t r0, int64_t r1) {
    std::vector<T> prod(3 * n);
    T *xx = prod.data(), *yy = xx + n, *xy = yy + n;
    // planes: x, y, x^2, y^2, x y  ->  mu1, mu2, m11, m22, m12
    const SsimKernels<T>& K = kernels<T>();
    auto hrow = [&](int64_t r, T* dst) {
      const T* xr = x + r * n;
      const T* yr = y + r * n;
      K.products(xr, yr, xx, yy, xy, n);
      K.blur_row(xr, dst, n, C, w);
      K.blur_row(yr, dst + n, n, C, w);
      K.blur_row(xx, dst + 2 * n, n, C, w);
      K.blur_row(yy, dst + 3 * n, n, C, w);
      K.blur_row(xy, dst + 4 * n, n, C, w);
    };
    auto out = [&](int64_t r, const T* v) {
      const T *mu1 = v, *mu2 = v + n, *m11 = v + 2 * n, *m22 = v + 3 * n, *m12 = v + 4 * n;
      if (partials)
        row_sum[r] = K.pixels(mu1, mu2, m11, m22, m12, n, partials + 0 * N + r * n, partials + 1 * N + r * n,
                              partials + 2 * N + r * n, partials + 3 * N + r * n);
      else
        row_sum[r] = K.pixels(mu1, mu2, m11, m22, m12, n, nullptr, nullptr, nullptr, nullptr);
    };
    stream_blur<T>(r0, r1, H, n, 5, w, hrow, out);
  });
  double total = 0.0;
  for (double s : row_sum) total += s;
  return total / (double)N;
}

// Backward: dx / dy (either may be null) from the stored partials, scaled by
// `scale` = upstream gradient / N.
template <typename T>
void ssim_backward(const T* x, const T* y, const T* partials, const Dims& d, T scale, T* dx, T* dy) {
  const Window<T> win;
  const T* w = win.w;
  const int64_t N = d.numel(), n = d.n(), rows = d.rows(), H = d.H, C = d.C;
  // Planes to blur: 0 mu1 (for dx), 1 mu2 (for dy), 2 m2 and 3 m12 (both).
  int planes[4], np = 0;
  if (dx) planes[np++] = 0;
  if (dy) planes[np++] = 1;
  planes[np++] = 2;
  planes[np++] = 3;
  int slot[4] = {-1, -1, -1, -1};
  for (int i = 0; i < np; ++i) slot[planes[i]] = i;

  parallel_for(rows, row_grain(n), [&](int64_t r0, int64_t r1) {
    const SsimKernels<T>& K = kernels<T>();
    auto hrow = [&](int64_t r, T* dst) {
      for (int i = 0; i < np; ++i) K.blur_row(partials + planes[i] * N + r * n, dst + i * n, n, C, w);
    };
    auto out = [&](int64_t r, const T* v) {
      const T* b_m2 = v + slot[2] * n;
      const T* b_m12 = v + slot[3] * n;
      const T* xr = x + r * n;
      const T* yr = y + r * n;
      if (dx) K.grad(xr, yr, v + slot[0] * n, b_m2, b_m12, scale, dx + r * n, n);
      // symmetric in (x, y): dL/dy = b_mu2 + 2 y b_m2 + x b_m12
      if (dy) K.grad(yr, xr, v + slot[1] * n, b_m2, b_m12, scale, dy + r * n, n);
    };
    stream_blur<T>(r0, r1, H, n, np, w, hrow, out);
  });
}

template <typename T>
Tensor ssim_impl(const Tensor& img1, const Tensor& img2, const Dims& d) {
  const DType dt = dtype_of<T>::value;
  Tensor x = img1.detach().contiguous(), y = img2.detach().contiguous();
  const bool need1 = img1.requires_grad(), need2 = img2.requires_grad();
  const bool want_grad = grad_enabled() && (need1 || need2);
  Tensor partials = want_grad ? Tensor::empty({4, d.numel()}, dt) : Tensor();
  SC_STAGE("ssim.forward");
  double value = ssim_forward<T>(x.data<T>(), y.data<T>(), d,
                                 want_grad ? partials.data<T>() : nullptr);
  Tensor out = Tensor::scalar(value, dt);
  if (!want_grad) return out;
  const Shape shape = img1.shape();
  return record_op1("ssim", {img1, img2}, out,
                    [x, y, partials, d, shape, need1, need2](const Grads& g) -> Grads {
                      SC_STAGE("ssim.backward");
                      const double go = g[0].item();
                      const T scale = T(go / (double)d.numel());
                      Tensor dx = need1 ? Tensor::empty(shape, dtype_of<T>::value) : Tensor();
                      Tensor dy = need2 ? Tensor::empty(shape, dtype_of<T>::value) : Tensor();
                      ssim_backward<T>(x.data<T>(), y.data<T>(), partials.data<T>(), d, scale,
                                       need1 ? dx.data<T>() : nullptr,
                                       need2 ? dy.data<T>() : nullptr);
                      return {dx, dy};
                    });
}

template <typename T>
void psnr_impl(const T* a, const T* b, int64_t B, int64_t per, double* out) {
  // Per image: sum of squared differences in float64, in a fixed order.
  const int64_t chunk = 1 << 16;
  const int64_t nchunks = (per + chunk - 1) / chunk;
  std::vector<double> part(B * nchunks, 0.0);
  parallel_for(B * nchunks, 1, [&](int64_t c0, int64_t c1) {
    for (int64_t c = c0; c < c1; ++c) {
      const int64_t img = c / nchunks, k = c % nchunks;
      const int64_t j0 = k * chunk, j1 = std::min(per, j0 + chunk);
      const T* pa = a + img * per;
      const T* pb = b + img * per;
      double s = 0.0;
      for (int64_t j = j0; j < j1; ++j) {
        double e = (double)pa[j] - (double)pb[j];
        s += e * e;
      }
      part[c] = s;
    }
  });
  for (int64_t i = 0; i < B; ++i) {
    double s = 0.0;
    for (int64_t k = 0; k < nchunks; ++k) s += part[i * nchunks + k];
    const double mse = s / (double)per;
    out[i] = -10.0 * std::log10(mse);  // mse == 0: +inf
  }
}

}  // namespace

// On a GPU device: the map by kernels, its mean on the device (no host read),
// and a backward that reads the upstream gradient there too. loss_lambda >= 0:
// the map is the 3DGS loss's per element (gs_loss), so the loss is one fused op.
static Tensor ssim_gpu(const Tensor& img1, const Tensor& img2, const Dims& d, double loss_lambda = -1) {
  const Device dev = img1.device();
  const DType dt = img1.dtype();
  Tensor x = img1.detach().contiguous(), y = img2.detach().contiguous();
  const bool need1 = img1.requires_grad(), need2 = img2.requires_grad();
  const bool want_grad = grad_enabled() && (need1 || need2);
  const gpu::SsimShape s{d.B, d.H, d.W, d.C, loss_lambda};
  Tensor map = Tensor::empty({d.numel()}, dt, dev);
  Tensor partials = want_grad ? Tensor::empty({4, d.numel()}, dt, dev) : Tensor();
  gpu::ssim_map(x, y, s, map, partials);
  Tensor out;
  {
    NoGradGuard no_grad;
    out = mean(map);
  }
  if (!want_grad) return out;
  const Shape shape = img1.shape();
  return record_op1(loss_lambda >= 0 ? "gs_loss" : "ssim", {img1, img2}, out,
                    [x, y, partials, s, shape, need1, need2, dev, dt](const Grads& g) -> Grads {
    Tensor go = g[0].to_device(dev).to(dt).contiguous();
    Tensor dx = need1 ? Tensor::empty(shape, dt, dev) : Tensor();
    Tensor dy = need2 ? Tensor::empty(shape, dt, dev) : Tensor();
    gpu::ssim_grad(x, y, s, partials, go, dx, dy);
    return {dx, dy};
  });
}

Tensor ssim(const Tensor& img1, const Tensor& img2) {
  check_pair(img1, img2, "ssim");
  Dims d = image_dims(img1, "ssim");
  if (img1.device().is_gpu()) return ssim_gpu(img1, img2, d);
  if (img1.dtype() == DType::Float32) return ssim_impl<float>(img1, img2, d);
  return ssim_impl<double>(img1, img2, d);
}

Tensor l1_loss(const Tensor& img1, const Tensor& img2) {
  check_pair(img1, img2, "l1_loss");
  return mean(abs(img1 - img2));
}

Tensor psnr(const Tensor& img1, const Tensor& img2) {
  check_pair(img1, img2, "psnr");
  Dims d = image_dims(img1, "psnr");
  const bool batched = img1.ndim() == 4;
  if (img1.device().is_gpu()) {
    // -10 log10(mse) per image, on the device (no host read).
    NoGradGuard no_grad;
    Tensor e = img1.detach() - img2.detach();
    Tensor mse = batched ? mean(square(e), {1, 2, 3}) : mean(square(e));
    return log(mse) * (-10.0 / std::log(10.0));
  }
  Tensor a = img1.detach().contiguous(), b = img2.detach().contiguous();
  std::vector<double> vals(d.B);
  const int64_t per = d.H * d.W * d.C;
  if (a.dtype() == DType::Float32)
    psnr_impl<float>(a.data<float>(), b.data<float>(), d.B, per, vals.data());
  else
    psnr_impl<double>(a.data<double>(), b.data<double>(), d.B, per, vals.data());
  if (!batched) return Tensor::scalar(vals[0], a.dtype());
  Tensor out = Tensor::empty({d.B}, DType::Float64);
  std::copy(vals.begin(), vals.end(), out.data<double>());
  return out.to(a.dtype());
}

Tensor gs_loss(const Tensor& render, const Tensor& target, double lambda_ssim) {
  if (!(lambda_ssim >= 0.0 && lambda_ssim <= 1.0))
    throw ValueError("gs_loss: lambda_ssim must be in [0, 1], got " + std::to_string(lambda_ssim));
  check_pair(render, target, "gs_loss", "render", "target");
  const Dims d = image_dims(render, "gs_loss");
  if (render.device().is_gpu()) return ssim_gpu(render, target, d, lambda_ssim);
  Tensor l1 = l1_loss(render, target);
  Tensor s = ssim(render, target);
  // (1 - lambda) L1 + lambda (1 - SSIM) = (1 - lambda) L1 - lambda SSIM + lambda
  return l1 * (1.0 - lambda_ssim) + (s * (-lambda_ssim) + lambda_ssim);
}

}  // namespace sc
