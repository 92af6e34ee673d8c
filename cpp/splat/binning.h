// Tile binning: which Gaussians touch which 16x16 tile, in depth order.
#pragma once
#include <cstdint>
#include <vector>

namespace sc {

// Key bits a sort needs for keys below n (at least 1): the CPU and GPU
// binning sort tile ids on only these.
inline int sort_key_bits(uint64_t n) {
  int b = 0;
  while (b < 64 && (uint64_t(1) << b) < n) ++b;
  return b > 0 ? b : 1;
}

struct TileBins {
  int64_t tiles_x = 0, tiles_y = 0;
  std::vector<int64_t> emit_offset;    // per Gaussian (+1): its intersections' range in
                                       // emission order (Gaussian index order)
  std::vector<uint32_t> sorted_gauss;  // per intersection sorted by (tile, depth): Gaussian id
  std::vector<uint32_t> sorted_emit;   // ... and its emission index
  std::vector<int64_t> tile_start;     // per tile (+1): range in the sorted arrays
  int64_t n_isects() const { return (int64_t)sorted_gauss.size(); }
};

// Two-stage order: visible Gaussians sorted by depth once (32-bit keys), then
// intersections, emitted in Gaussian index order, sorted by (tile id, depth
// rank) on only as many bits as those need (e.g. 7 + 18). Emitting by index
// makes each Gaussian's intersections contiguous, which the backward's
// per-Gaussian pass reads in order. A Gaussian is binned to a tile only
// when its alpha >= 1/255 region (d^T conic d <= r2) reaches a pixel centre
// of the tile (exact ellipse-rectangle test).
// radii (N,2): > 0 for visible Gaussians; r2 (N): 2 ln(255 opacity).
template <typename T>
TileBins bin_tiles(const T* means2d, const T* conics, const T* r2, const T* depths,
                   const int32_t* radii, int64_t n, int64_t width, int64_t height,
                   int64_t tile_size);

}  // namespace sc
