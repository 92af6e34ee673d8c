// The per-Gaussian loops of the CPU tile binning (splat/binning.cpp), compiled
// once per CPU target (splat/binning_target.cpp) and chosen at run time
// (core/cpu_target.h): the tiles each Gaussian's footprint reaches (the
// ellipse-tile test of kernels/tile_binning.h, shared with the GPU
// rasterizer) and the intersection keys. binning.cpp sorts, runs these over
// blocks of Gaussians on the thread pool and prefix-sums the counts in
// between.
//
// Every copy gives the same tiles: the copies are built with
// -ffp-contract=off (cmake/cpu_targets.cmake), so the test rounds alike on
// every target, and the outputs are integers.
#pragma once
#include <cstdint>

#include "core/cpu_target.h"

namespace sc {

template <typename T>
struct BinningKernels {
  // For the Gaussians g in [begin, end), in index order: the ids (ty * tiles_x
  // + tx) of the tiles the footprint of each visible one (radii > 0) reaches,
  // in increasing order, appended to out[0, cap), and counts[g] their number
  // (0 for the others). Stops before the first Gaussian whose tile box might
  // not fit in what is left of out (a Gaussian's tiles are never split) and
  // returns its index (end when all were done); *used = slots of out written,
  // *need = that Gaussian's tile-box size (its most tiles), 0 when done.
  int64_t (*tile_lists)(const T* means2d, const T* conics, const T* r2, const int32_t* radii, int64_t begin,
                        int64_t end, int64_t width, int64_t height, int64_t tile_size, int64_t tiles_x,
                        uint32_t* out, int64_t cap, int64_t* counts, int64_t* used, int64_t* need);
};

template <typename K>
struct BinKeyKernels {
  // For g in [begin, end) and o in [emit_offset[g], emit_offset[g + 1]):
  // keys[o] = tiles[o - emit_offset[begin]] << rank_bits | rank[g],
  // ids[o] = o, gauss[o] = g (tiles: the tile lists of those Gaussians).
  void (*emit_keys)(const uint32_t* tiles, const int64_t* emit_offset, const uint32_t* rank, int64_t begin,
                    int64_t end, int rank_bits, K* keys, uint32_t* ids, uint32_t* gauss);
};

struct BinningTables {
  const char* target;  // SC_TARGET_NAME of the copy (tests check the dispatch)
  BinningKernels<float> f32;
  BinningKernels<double> f64;
  BinKeyKernels<uint32_t> k32;
  BinKeyKernels<uint64_t> k64;
};

// The target in use.
const BinningTables& binning_kernels();

}  // namespace sc
