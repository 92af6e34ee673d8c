// The per-Gaussian stages of the CPU rasterizer (splat/rasterize.cpp) over a
// range of Gaussians: projection with the early cull, colours from SH (or as
// given) and the depth channel, and the backward that sums each Gaussian's
// intersection gradients and takes them through SH and the projection. They are
// compiled once per CPU target (splat/gaussians_target.cpp) and chosen at run
// time (core/cpu_target.h); rasterize.cpp splits them over the thread pool.
#pragma once
#include <cstdint>

#include "core/cpu_target.h"
#include "kernels/projection.h"

namespace sc {

// Plain pointers into the rasterizer's state (contiguous arrays).
template <typename T>
struct GaussianArgs {
  int64_t n = 0, width = 0, height = 0;
  ScCamera<T> cam{};
  const T* campos = nullptr;  // camera centre (4 values, from inverse(viewmat))
  const T* Vinv = nullptr;    // inverse(viewmat), 4x4 row-major
  int antialiased = 0;
  int raw = 0;  // scale / opacity are exp(log-scale) / sigmoid(logit): backward chains to those
  const T *mean = nullptr, *quat = nullptr, *scale = nullptr, *opac = nullptr;
  // Colours: C output channels = ncol colour channels (+ a depth channel when
  // depth = 1). With SH (sh_degree >= 0, ncol = 3) Gaussian i's coefficients are
  //   split = 0: colors + i*sh_k*3 (DC, then the rest)
  //   split = 1: DC at colors + 3i, the rest at colors_rest + i*(sh_k-1)*3
  // and col_used of them are read (the bands up to sh_degree); without SH,
  // colors holds ncol values per Gaussian (col_row per row).
  int64_t C = 0, ncol = 0, sh_k = 0, col_row = 0, col_used = 0;
  int sh_degree = -1, depth = 0, split = 0;
  const T *colors = nullptr, *colors_rest = nullptr;
  // forward outputs (projection, then features)
  T *mean2d = nullptr, *conic = nullptr, *opac_eff = nullptr, *r2 = nullptr, *depths = nullptr;
  int32_t* radii = nullptr;
  T* feats = nullptr;  // C per Gaussian
};

template <typename T>
struct GaussianGradArgs {
  // per intersection gradients (gstride each), Gaussian i's in
  // [emit_offset[i], emit_offset[i + 1]) (splat/binning.h)
  const T* isect_grad = nullptr;
  const int64_t* emit_offset = nullptr;
  int gstride = 0;
  int64_t block = 0;  // Gaussians per viewmat-gradient block
  // outputs, every entry written (zeros for Gaussians without intersections)
  T *means = nullptr, *quats = nullptr, *scales = nullptr, *opacities = nullptr, *colors = nullptr,
    *colors_rest = nullptr, *means2d = nullptr, *absgrad = nullptr;
  T* view_partial = nullptr;  // 16 per block, added to
};

template <typename T>
struct GaussianKernels {
  // Gaussians [b, e): projection, cull, footprint (radii stay 0 when culled).
  // False when an input of one of them is NaN or infinite.
  bool (*project)(const GaussianArgs<T>& a, int64_t b, int64_t e);
  // Gaussians [b, e) with non-zero radii: feats. False when a colour or SH
  // coefficient read is not finite.
  bool (*features)(const GaussianArgs<T>& a, int64_t b, int64_t e);
  // Blocks [bb, be) of g.block Gaussians: their parameter gradients and their
  // block's viewmat-gradient partial.
  void (*backward)(const GaussianArgs<T>& a, const GaussianGradArgs<T>& g, int64_t bb, int64_t be);
};

struct GaussianTables {
  GaussianKernels<float> f32;
  GaussianKernels<double> f64;
};

// The target in use.
const GaussianTables& gaussian_kernels();

}  // namespace sc
