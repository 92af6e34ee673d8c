// What the CPU and GPU rasterizers derive alike from their inputs: the camera
// (ScCamera), inverse(viewmat) and the camera centre, the output channels, and
// the background per channel. Internal to splat/rasterize*.cpp.
#pragma once
#include <algorithm>
#include <cmath>
#include <vector>

#include "core/errors.h"
#include "core/tensor.h"
#include "kernels/projection.h"
#include "ops/ops.h"
#include "splat/rasterize.h"

namespace sc::raster {

inline bool has_depth(RenderMode m) { return m != RenderMode::RGB; }
inline bool has_color(RenderMode m) {
  return m == RenderMode::RGB || m == RenderMode::RGB_D || m == RenderMode::RGB_ED;
}

// A CPU copy of a small tensor (viewmat, K, background) in dtype T's dtype.
template <typename T>
Tensor host_values(const Tensor& t) {
  Tensor h = t.detach();
  if (h.device().is_gpu()) h = h.to_device(Device{});
  return h.to(dtype_of<T>::value).contiguous();
}

// Gauss-Jordan with partial pivoting, in double: inv = inverse(m), 4x4 row-major.
template <typename T>
void invert4(const T* m, T* inv) {
  double a[4][8];
  for (int i = 0; i < 4; ++i)
    for (int j = 0; j < 8; ++j) a[i][j] = j < 4 ? (double)m[i * 4 + j] : (j - 4 == i ? 1.0 : 0.0);
  for (int c = 0; c < 4; ++c) {
    int piv = c;
    for (int r = c + 1; r < 4; ++r)
      if (std::fabs(a[r][c]) > std::fabs(a[piv][c])) piv = r;
    if (a[piv][c] == 0.0) throw ValueError("rasterize: viewmat is singular");
    for (int j = 0; j < 8; ++j) std::swap(a[c][j], a[piv][j]);
    double d = a[c][c];
    for (int j = 0; j < 8; ++j) a[c][j] /= d;
    for (int r = 0; r < 4; ++r)
      if (r != c) {
        double f = a[r][c];
        for (int j = 0; j < 8; ++j) a[r][j] -= f * a[c][j];
      }
  }
  for (int i = 0; i < 4; ++i)
    for (int j = 0; j < 4; ++j) inv[i * 4 + j] = (T)a[i][j + 4];
}

template <typename T>
struct Setup {
  ScCamera<T> cam{};
  // Camera centre = column 3 of inverse(viewmat) (the full 4x4, as gsplat
  // computes it, so the viewmat gradient is that of the matrix inverse: for a
  // rigid pose this is -R^T t, but the bottom row gets a gradient too).
  T Vinv[16] = {};
  T campos[4] = {};
  int64_t ncol = 0, C = 0, sh_k = 0;  // colour channels, output channels, SH coefficients
  std::vector<T> bg;                  // C values: background on colours, 0 on depth
};

template <typename T>
Setup<T> make_setup(const Tensor& viewmat, const Tensor& K, const Tensor& background, const Tensor& colors,
                    const Tensor& colors_rest, const RasterizeOptions& o) {
  Setup<T> s;
  Tensor V = host_values<T>(viewmat), Kc = host_values<T>(K);
  const T* v = V.data<T>();
  const T* k = Kc.data<T>();
  for (int i = 0; i < 3; ++i) {
    for (int j = 0; j < 3; ++j) s.cam.R[i * 3 + j] = v[i * 4 + j];
    s.cam.t[i] = v[i * 4 + 3];
  }
  s.cam.fx = k[0];
  s.cam.fy = k[4];
  s.cam.cx = k[2];
  s.cam.cy = k[5];
  s.cam.width = (int)o.width;
  s.cam.height = (int)o.height;
  s.cam.near_plane = (T)o.near_plane;
  s.cam.far_plane = (T)o.far_plane;
  s.cam.eps2d = (T)o.eps2d;
  invert4(v, s.Vinv);
  for (int i = 0; i < 4; ++i) s.campos[i] = s.Vinv[i * 4 + 3];
  s.ncol = has_color(o.mode) ? (o.sh_degree ? 3 : colors.shape()[1]) : 0;
  s.C = s.ncol + (has_depth(o.mode) ? 1 : 0);
  s.sh_k = o.sh_degree ? colors.shape()[1] + (colors_rest.defined() ? colors_rest.shape()[1] : 0) : 0;
  // The background fills the colour channels only (gsplat); depth composites on 0.
  s.bg.assign(s.C, T(0));
  if (background.defined() && s.ncol > 0) {
    Tensor b = host_values<T>(background);
    for (int64_t c = 0; c < s.ncol; ++c) s.bg[c] = b.data<T>()[c];
  }
  return s;
}

// Expected depth (modes ED, RGB+ED): the accumulated depth channel (the last)
// over the accumulated alpha. Other modes: the image as composited.
inline Tensor with_expected_depth(const Tensor& image, const Tensor& alpha, int64_t C, RenderMode mode) {
  if (mode != RenderMode::ED && mode != RenderMode::RGB_ED) return image;
  int64_t d = C - 1;
  Tensor ed = image.slice(-1, d, d + 1) / clamp(alpha, 1e-10, std::nullopt);
  return d == 0 ? ed : concat({image.slice(-1, 0, d), ed}, -1);
}

}  // namespace sc::raster
