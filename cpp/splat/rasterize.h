// Differentiable tile-based Gaussian rasterizer (CPU backend).
//
// Stages, each a function of its own (rasterize.cpp, binning.cpp):
//   project (EWA, kernels/projection.h) -> features (colours or SH,
//   kernels/sh.h, plus depth) -> tile binning (exact ellipse-tile test,
//   depth sort then stable tile sort with our radix sort) -> per-tile
//   compositing (kernels/composite.h) -> backward in reverse.
#pragma once
#include <optional>
#include <string>
#include <vector>

#include "core/tensor.h"

namespace sc {

enum class RenderMode { RGB, D, ED, RGB_D, RGB_ED };
RenderMode parse_render_mode(const std::string& s);  // ValueError on anything else

struct RasterizeOptions {
  int64_t width = 0, height = 0;
  std::optional<int64_t> sh_degree;  // none: colors are (N, C) features
  double near_plane = 0.01, far_plane = 1e10;
  RenderMode mode = RenderMode::RGB;
  bool antialiased = false;
  int64_t tile_size = 16;
  double eps2d = 0.3;
};

struct RasterizeResult {
  Tensor image;            // (H, W, C)
  Tensor alpha;            // (H, W, 1)
  Tensor radii;            // (N, 2) int32, 0 = culled
  Tensor means2d;          // (N, 2) leaf whose .grad is dL/d(2D mean) in pixels
  Tensor means2d_absgrad;  // (N, 2) leaf whose .grad sums |per-pixel dL/d(2D mean)|
  Tensor depths;           // (N,) camera-space z
  int64_t n_isects = 0;
};

// means (N,3), quats (N,4) wxyz (normalised inside), scales (N,3) > 0,
// opacities (N,) in (0,1), colors (N,C) or SH (N,K,3), viewmat (4,4)
// world-to-camera, K (3,3), background (C,) or undefined. float32 or float64.
RasterizeResult rasterize(const Tensor& means, const Tensor& quats, const Tensor& scales,
                          const Tensor& opacities, const Tensor& colors, const Tensor& viewmat,
                          const Tensor& K, const Tensor& background, const RasterizeOptions& opt);

// The same from training parameters, without separate activation ops: scales
// as log-scales (exp inside), opacities as logits (sigmoid inside), and SH
// coefficients as DC sh0 (N,1,3) plus the rest shN (N,K-1,3), read in place.
// RGB only; gradients are those of the parameters themselves.
RasterizeResult rasterize_params(const Tensor& means, const Tensor& quats, const Tensor& log_scales,
                                 const Tensor& logit_opacities, const Tensor& sh0, const Tensor& shN,
                                 const Tensor& viewmat, const Tensor& K, const Tensor& background,
                                 const RasterizeOptions& opt);

// ---- stages, forward only (the rasterizer's backward covers their gradients) --
struct ProjectionResult {
  Tensor means2d;        // (N,2) pixels
  Tensor conics;         // (N,3) A, B, C of the inverse 2D covariance (low-pass included)
  Tensor depths;         // (N,) camera-space z
  Tensor compensations;  // (N,) sqrt(det before / after the low-pass)
  Tensor radii;          // (N,2) int32 half extents of the alpha >= 1/255 box, 0 = culled
};
ProjectionResult project_gaussians(const Tensor& means, const Tensor& quats, const Tensor& scales,
                                   const Tensor& opacities, const Tensor& viewmat, const Tensor& K,
                                   const RasterizeOptions& opt);
// Colours max(SH(dir) + 0.5, 0) for dirs (N,3) (any length, normalised inside)
// and coefficients (N,K,3).
Tensor sh_colors(int64_t degree, const Tensor& dirs, const Tensor& coeffs);

}  // namespace sc
