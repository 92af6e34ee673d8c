// Host side of the GPU rasterizer (gpu/kernels/raster_gaussians.h and
// raster_tiles.h): the forward pipeline and its backward on one device. The
// autograd glue, argument checks and camera set-up live in splat/ (the CPU
// rasterizer's), so both backends take the same inputs and give the same outputs.
#pragma once
#include <cstdint>

#include "core/tensor.h"
#include "kernels/projection.h"

namespace sc::gpu {

struct RasterConfig {
  int C = 0, ncol = 0, sh_degree = -1, sh_k = 0, col_row = 0;
  bool split = false, has_depth = false, antialiased = false, raw = false;
  int width = 0, height = 0, tile_size = 16;
  double alpha_max = 0.99;
};

// Inputs (set by the caller) and everything the forward keeps for the backward.
template <typename T>
struct RasterDeviceState {
  RasterConfig cfg;
  ScCamera<T> cam{};
  T Vinv[16] = {};  // inverse(viewmat); campos is its column 3
  T bg[16] = {};    // per output channel (0 on depth)
  // inputs, contiguous on the device; raw: log-scales and logits, activated by the forward
  Tensor means, quats, scales, opacities, colors, colors_rest;
  // per Gaussian
  Tensor mean2d, conic, opac_eff, r2, depth, feats, radii, by_depth, offsets;
  // per intersection / tile / pixel
  Tensor sorted_emit, emit_gauss, tile_ranges, trans, last;
  int64_t n = 0, n_isects = 0;
  int tiles_x = 0, tiles_y = 0;
};

// Projects, bins, sorts and composites: image (H, W, C) and alpha (H, W, 1),
// both on the device. Raises ValueError naming an input with NaN or infinity.
template <typename T>
void raster_forward(RasterDeviceState<T>& S, const Tensor& image, const Tensor& alpha);

struct RasterGradients {
  Tensor means, quats, scales, opacities, colors, colors_rest, mean2d, absgrad;
  Tensor view_rows;  // (N, 16): each Gaussian's viewmat gradient (sum them); only with view_grad
};
template <typename T>
RasterGradients raster_backward(const RasterDeviceState<T>& S, const Tensor& v_image, const Tensor& v_alpha,
                                bool view_grad = true);

// Pixels a thread of the backward tile kernel takes: 0 automatic (the default),
// or 1, 2 where the tile size allows; returns the previous setting.
int set_raster_backward_pixels(int pixels);

}  // namespace sc::gpu
