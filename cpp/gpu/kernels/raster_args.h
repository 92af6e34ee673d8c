// Argument structs of the GPU rasterizer (gpu/kernels/raster_gaussians.h: the
// per-Gaussian stages; gpu/kernels/raster_tiles.h: the per-tile compositing).
// Per-Gaussian arrays are indexed by the Gaussian; the intersection arrays by
// the emission index (intersections emitted in depth-rank order, so each
// Gaussian's are contiguous) or by the sorted position (tile, then depth).
#pragma once
#include "gpu/dialect.h"
#include "kernels/projection.h"

#define SC_RASTER_ERR_MEANS 0  // error words: a NaN or infinity was met in ...
#define SC_RASTER_ERR_QUATS 1
#define SC_RASTER_ERR_SCALES 2
#define SC_RASTER_ERR_OPACITIES 3
#define SC_RASTER_ERR_COLORS 4
#define SC_RASTER_ERR_WORDS 5
#define SC_RASTER_TOTAL_LO 5     // then the intersection total, 64 bits in two words
#define SC_RASTER_TOTAL_HI 6
#define SC_RASTER_STATUS_WORDS 7

template <typename T>
struct ScRasterGaussianArgs {
  // inputs (scales / opacities activated: exp(log-scale), sigmoid(logit) when raw)
  SC_PTR(const T) means;
  SC_PTR(const T) quats;
  SC_PTR(const T) raw_scales;     // the raw form's log-scales / logits (activate kernel)
  SC_PTR(const T) raw_opacities;
  SC_PTR(T) scales;
  SC_PTR(T) opacities;
  SC_PTR(const T) colors;         // (N, ncol), (N, K, 3) SH, or the DC (N, 1, 3) when split
  SC_PTR(const T) colors_rest;    // split SH: (N, K-1, 3)
  // projection outputs
  SC_PTR(T) mean2d;     // (N, 2)
  SC_PTR(T) conic;      // (N, 3)
  SC_PTR(T) opac_eff;   // (N,)
  SC_PTR(T) r2;         // (N,) 2 ln(255 opacity_eff), -1 when culled
  SC_PTR(T) depth;      // (N,)
  SC_PTR(T) feats;      // (N, C)
  SC_PTR(int) radii;    // (N, 2)
  SC_PTR(unsigned int) tile_count;  // (N,) tiles reached
  SC_PTR(unsigned int) depth_key;   // (N,) sortable depth, all ones when culled
  SC_PTR(unsigned int) identity;    // (N,) 0..N-1: the depth sort's values
  SC_PTR(unsigned int) errors;      // SC_RASTER_STATUS_WORDS: error words set to 1 on a bad value, the total
  // binning
  SC_PTR(const unsigned int) by_depth;  // (N,) Gaussians front to back
  SC_PTR(unsigned int) offsets;         // (N + 1,) counts in depth order, scanned in place
  SC_PTR(unsigned int) tile_keys;       // (n_isects,) emitted tile ids
  SC_PTR(unsigned int) emit_ids;        // (n_isects,) 0..n_isects-1
  SC_PTR(unsigned int) emit_gauss;      // (n_isects,) Gaussian of each emission
  SC_PTR(const unsigned int) sorted_tiles;  // (n_isects,) tile ids sorted
  SC_PTR(unsigned int) tile_ranges;     // (n_tiles, 2) [begin, end) in sorted order
  // backward
  SC_PTR(const T) isect_grad;  // (n_isects, sc_grad_stride(C)) by emission index
  SC_PTR(T) isect_sums;        // (N, sc_grad_stride(C) + 1) their sums per Gaussian, and 1 if any
  SC_PTR(T) v_means;
  SC_PTR(T) v_quats;
  SC_PTR(T) v_scales;
  SC_PTR(T) v_opacities;
  SC_PTR(T) v_colors;
  SC_PTR(T) v_colors_rest;
  SC_PTR(T) v_mean2d;
  SC_PTR(T) v_absgrad;
  SC_PTR(T) v_view_rows;  // (N, 16): each Gaussian's viewmat gradient, summed on the host side (want_view)
  ScCamera<T> cam;
  T Vinv[16];   // inverse(viewmat), row-major; campos = its column 3
  sc_i64 n, n_isects;
  int C, ncol, sh_degree, sh_k, col_row, split, has_depth, antialiased, raw;
  int want_view;  // backward: store v_view_rows (the viewmat wants a gradient)
  int tiles_x, tiles_y, tile_size;
};

template <typename T>
struct ScRasterTileArgs {
  SC_PTR(const T) mean2d;
  SC_PTR(const T) conic;
  SC_PTR(const T) opac_eff;
  SC_PTR(const T) feats;
  SC_PTR(const unsigned int) tile_ranges;  // (n_tiles, 2)
  SC_PTR(const unsigned int) sorted_emit;  // (n_isects,) emission index of each sorted position
  SC_PTR(const unsigned int) emit_gauss;   // (n_isects,) Gaussian of each emission
  SC_PTR(T) image;      // (H, W, C): composited features plus T_final * background
  SC_PTR(T) alpha;      // (H, W)
  SC_PTR(T) trans;      // (H, W) final transmittance
  SC_PTR(int) last;     // (H, W) records walked up to the last contributor
  SC_PTR(const T) v_image;  // backward: (H, W, C)
  SC_PTR(const T) v_alpha;  // backward: (H, W)
  SC_PTR(T) isect_grad;     // backward: (n_isects, sc_grad_stride(C)) by emission index
  T bg[16];             // background per channel (0 on depth)
  T alpha_max;
  int width, height, tile_size, tiles_x, C, batch;  // batch: records staged in shared memory at a time
};
