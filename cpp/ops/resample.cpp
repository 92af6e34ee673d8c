// upsample_bilinear (torch's align_corners semantics) and pixel_shuffle, with backward.
#include <vector>

#include "autograd/function.h"
#include "core/thread_pool.h"
#include "gpu/ops/gpu_ops.h"
#include "kernels/resample.h"
#include "ops/ops.h"

namespace sc {

using Grads = std::vector<Tensor>;

namespace {

template <typename T>
std::vector<ScLerp<T>> axis_table(int64_t in, int64_t out, bool align_corners) {
  std::vector<ScLerp<T>> t((size_t)out);
  for (int64_t i = 0; i < out; ++i)
    t[i] = sc_bilinear_coord<T>((sc_i32)i, (sc_i32)in, (sc_i32)out, align_corners);
  return t;
}

// x (planes, H, W) contiguous -> y (planes, Ho, Wo).
template <typename T>
void bilinear_forward(const T* x, T* y, int64_t planes, int64_t H, int64_t W, int64_t Ho,
                      int64_t Wo, bool ac) {
  auto ty = axis_table<T>(H, Ho, ac), tx = axis_table<T>(W, Wo, ac);
  parallel_for(planes * Ho, std::max<int64_t>(1, 4096 / std::max<int64_t>(Wo, 1)), [&](int64_t b, int64_t e) {
    for (int64_t r = b; r < e; ++r) {
      const int64_t p = r / Ho, oh = r % Ho;
      const T* plane = x + p * H * W;
      T* out = y + r * Wo;
      for (int64_t ow = 0; ow < Wo; ++ow)
        out[ow] = sc_bilinear_sample<T>(plane, (sc_i32)W, ty[oh], tx[ow]);
    }
  });
}

// dx (planes, H, W), zero on entry, += adjoint of the forward applied to dy.
// One task per plane: the scatter never crosses planes.
template <typename T>
void bilinear_backward(const T* dy, T* dx, int64_t planes, int64_t H, int64_t W, int64_t Ho,
                       int64_t Wo, bool ac) {
  auto ty = axis_table<T>(H, Ho, ac), tx = axis_table<T>(W, Wo, ac);
  parallel_for(planes, std::max<int64_t>(1, 4096 / std::max<int64_t>(Ho * Wo, 1)), [&](int64_t b, int64_t e) {
    for (int64_t p = b; p < e; ++p) {
      T* plane = dx + p * H * W;
      const T* g = dy + p * Ho * Wo;
      for (int64_t oh = 0; oh < Ho; ++oh)
        for (int64_t ow = 0; ow < Wo; ++ow)
          sc_bilinear_scatter<T>(plane, (sc_i32)W, ty[oh], tx[ow], g[oh * Wo + ow]);
    }
  });
}

}  // namespace

Tensor upsample_bilinear(const Tensor& x, int64_t out_h, int64_t out_w, bool align_corners) {
  if (!x.defined()) throw ValueError("upsample_bilinear: x is required");
  if (x.ndim() != 4)
    throw ValueError("upsample_bilinear: x must be 4-D (N, C, H, W), got shape " + shape_str(x.shape()));
  if (out_h < 1 || out_w < 1)
    throw ValueError("upsample_bilinear: size must be positive, got (" + std::to_string(out_h) + ", " +
                     std::to_string(out_w) + ")");
  const int64_t N = x.shape()[0], C = x.shape()[1], H = x.shape()[2], W = x.shape()[3];
  if (H < 1 || W < 1)
    throw ValueError("upsample_bilinear: input spatial size must be positive, got shape " + shape_str(x.shape()));
  const int64_t lim = int64_t(1) << 30;  // sc_i32 indices in the kernel body
  if (H * W >= lim || out_h * out_w >= lim)
    throw ValueError("upsample_bilinear: planes of more than 2^30 pixels are not supported");
  DType dt = x.dtype();
  if (!is_floating(dt))
    throw TypeError(std::string("upsample_bilinear: expected a floating-point tensor, got ") + dtype_name(dt));
  if (is_half(dt)) return upsample_bilinear(x.to(DType::Float32), out_h, out_w, align_corners).to(dt);

  Tensor xd = x.detach().contiguous();
  Tensor y = Tensor::empty({N, C, out_h, out_w}, dt, x.device());
  const int64_t planes = N * C;
  if (x.device().is_gpu()) {
    gpu::bilinear(false, xd, y, planes, H, W, out_h, out_w, align_corners);
    return record_op1("upsample_bilinear", {x}, y, [=](const Grads& g) -> Grads {
      Tensor dy = g[0].to(dt).contiguous();
      Tensor dx = Tensor::zeros({N, C, H, W}, dt, dy.device());
      gpu::bilinear(true, dy, dx, planes, H, W, out_h, out_w, align_corners);
      return {dx};
    });
  }
  SC_DISPATCH_FLOAT(dt, "upsample_bilinear", {
    bilinear_forward<scalar_t>(xd.data<scalar_t>(), y.data<scalar_t>(), planes, H, W, out_h, out_w, align_corners);
  });
  return record_op1("upsample_bilinear", {x}, y, [=](const Grads& g) -> Grads {
    Tensor dy = g[0].to(dt).contiguous();
    Tensor dx = Tensor::zeros({N, C, H, W}, dt);
    SC_DISPATCH_FLOAT(dt, "upsample_bilinear", {
      bilinear_backward<scalar_t>(dy.data<scalar_t>(), dx.data<scalar_t>(), planes, H, W, out_h, out_w, align_corners);
    });
    return {dx};
  });
}

// A view-and-copy: (*, C, r, r, H, W) -> (*, C, H, r, W, r). reshape/permute
// are differentiable, so the backward is their composition.
Tensor pixel_shuffle(const Tensor& x, int64_t r) {
  if (!x.defined()) throw ValueError("pixel_shuffle: x is required");
  if (r < 1) throw ValueError("pixel_shuffle: upscale_factor must be >= 1, got " + std::to_string(r));
  const int64_t nd = x.ndim();
  if (nd < 3)
    throw ValueError("pixel_shuffle: x must have at least 3 dimensions (*, C*r*r, H, W), got shape " +
                     shape_str(x.shape()));
  const Shape& s = x.shape();
  const int64_t Cr = s[nd - 3], H = s[nd - 2], W = s[nd - 1];
  if (Cr % (r * r) != 0)
    throw ValueError("pixel_shuffle: channels of x shape " + shape_str(s) + " (" + std::to_string(Cr) +
                     ") must be divisible by upscale_factor^2 = " + std::to_string(r * r));
  Shape lead(s.begin(), s.end() - 3);
  const int64_t L = (int64_t)lead.size();
  Shape split = lead;
  for (int64_t v : {Cr / (r * r), r, r, H, W}) split.push_back(v);
  std::vector<int64_t> perm;
  for (int64_t d = 0; d < L; ++d) perm.push_back(d);
  for (int64_t d : {0, 3, 1, 4, 2}) perm.push_back(L + d);  // C, H, r_i, W, r_j
  Shape out = lead;
  for (int64_t v : {Cr / (r * r), H * r, W * r}) out.push_back(v);
  return x.reshape(split).permute(perm).reshape(out);
}

}  // namespace sc
