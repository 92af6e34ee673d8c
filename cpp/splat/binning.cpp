#include "splat/binning.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <memory>

#include "core/cpu_target.h"
#include "core/errors.h"
#include "core/profile.h"
#include "core/thread_pool.h"
#include "kernels/radix_sort.h"
#include "ops/sort.h"
#include "splat/binning_kernels.h"

namespace sc {

// The per-Gaussian loops of the CPU target in use (splat/binning_kernels.h,
// splat/binning_target.cpp): the ellipse-tile test of kernels/tile_binning.h
// (shared with the GPU rasterizer) and the key emission.
SC_TARGET_DISPATCH(BinningTables, binning_kernels)

namespace {

// One block's tile ids, grown as the per-target loop asks (uninitialised
// storage: a block's list is written once).
struct TileList {
  std::unique_ptr<uint32_t[]> data;
  int64_t size = 0, cap = 0;
  void reserve(int64_t want) {
    if (want <= cap) return;
    std::unique_ptr<uint32_t[]> bigger(new uint32_t[(size_t)want]);
    if (size) std::memcpy(bigger.get(), data.get(), (size_t)size * sizeof(uint32_t));
    data = std::move(bigger);
    cap = want;
  }
};

}  // namespace

template <typename T>
TileBins bin_tiles(const T* means2d, const T* conics, const T* r2, const T* depths,
                   const int32_t* radii, int64_t n, int64_t W, int64_t H, int64_t ts) {
  TileBins bins;
  bins.tiles_x = (W + ts - 1) / ts;
  bins.tiles_y = (H + ts - 1) / ts;
  int64_t n_tiles = bins.tiles_x * bins.tiles_y;
  if (n_tiles > (int64_t(1) << 31))
    throw ValueError("rasterize: image of " + std::to_string(W) + "x" + std::to_string(H) +
                     " has too many tiles");

  // 1. visible Gaussians, sorted front to back by depth (32-bit float keys),
  //    and each one's rank in that order
  // (SPLATCORE_PROFILE: nested stages raster.bin.depth_order, .tiles, .keys)
  std::vector<uint32_t> rank(n, 0);
  int64_t nv = 0;
  {
    SC_STAGE("raster.bin.depth_order");
    std::vector<uint32_t> vis;
    vis.reserve(n);
    for (int64_t i = 0; i < n; ++i)
      if (radii[2 * i] > 0 || radii[2 * i + 1] > 0) vis.push_back((uint32_t)i);
    nv = (int64_t)vis.size();
    std::vector<uint32_t> keys(nv);
    parallel_for(nv, 8192, [&](int64_t b, int64_t e) {
      for (int64_t j = b; j < e; ++j) keys[j] = sc_float_to_sortable_u32((float)depths[vis[j]]);
    });
    radix_sort_pairs(keys.data(), vis.data(), nv, 0, 32);
    parallel_for(nv, 65536, [&](int64_t b, int64_t e) {
      for (int64_t j = b; j < e; ++j) rank[vis[j]] = (uint32_t)j;
    });
  }

  // 2. the tiles each Gaussian touches, listed once per block of Gaussians (in
  //    index order), and the exclusive prefix sum of their counts
  const int64_t gblock = 2048;
  int64_t nblocks = (n + gblock - 1) / gblock;
  std::vector<TileList> block_tiles(nblocks);
  std::vector<int64_t> counts(n, 0);
  const BinningTables& kern = binning_kernels();
  const BinningKernels<T>& tk = by_dtype<T>(kern);
  {
    SC_STAGE("raster.bin.tiles");
    parallel_for(nblocks, 1, [&](int64_t bb, int64_t be) {
      for (int64_t blk = bb; blk < be; ++blk) {
        TileList& L = block_tiles[blk];
        const int64_t g1 = std::min(n, (blk + 1) * gblock);
        int64_t g = blk * gblock;
        L.reserve(4 * (g1 - g));  // most Gaussians reach 1 to 4 tiles
        while (g < g1) {
          int64_t used = 0, need = 0;
          g = tk.tile_lists(means2d, conics, r2, radii, g, g1, W, H, ts, bins.tiles_x, L.data.get() + L.size,
                            L.cap - L.size, counts.data(), &used, &need);
          L.size += used;
          if (g < g1) L.reserve(std::max(2 * L.cap, L.size + need));
        }
      }
    });
  }
  bins.emit_offset.assign(n + 1, 0);
  for (int64_t g = 0; g < n; ++g) bins.emit_offset[g + 1] = bins.emit_offset[g] + counts[g];
  int64_t n_isects = bins.emit_offset[n];
  if (n_isects > int64_t(UINT32_MAX))
    throw ValueError("rasterize: " + std::to_string(n_isects) +
                     " Gaussian-tile intersections exceed the 32-bit index range");

  // 3. emit (tile id, depth rank) keys in index order
  int rank_bits = sort_key_bits((uint64_t)std::max<int64_t>(nv, 1));
  int tile_bits = sort_key_bits((uint64_t)n_tiles);
  if (rank_bits + tile_bits > 64)
    throw ValueError("rasterize: too many tiles and Gaussians for a 64-bit sort key");
  // 32-bit keys when tile and rank bits fit (half the bytes to sort), else 64
  auto emit_and_sort = [&](auto key_zero) {
    SC_STAGE("raster.bin.keys");  // emission, sort by (tile, depth), tile ranges
    using K = decltype(key_zero);
    std::vector<K> sort_keys(n_isects);
    std::vector<uint32_t> emit_ids(n_isects), emit_gauss(n_isects);
    const BinKeyKernels<K>& kk = [&]() -> const BinKeyKernels<K>& {
      if constexpr (sizeof(K) == 4)
        return kern.k32;
      else
        return kern.k64;
    }();
    parallel_for(nblocks, 1, [&](int64_t bb, int64_t be) {
      for (int64_t blk = bb; blk < be; ++blk)
        kk.emit_keys(block_tiles[blk].data.get(), bins.emit_offset.data(), rank.data(), blk * gblock,
                     std::min(n, (blk + 1) * gblock), rank_bits, sort_keys.data(), emit_ids.data(),
                     emit_gauss.data());
    });

    // 4. sort by (tile, depth rank): front to back within each tile
    radix_sort_pairs(sort_keys.data(), emit_ids.data(), n_isects, 0, rank_bits + tile_bits);
    bins.sorted_emit = std::move(emit_ids);
    bins.sorted_gauss.resize(n_isects);
    parallel_for(n_isects, 65536, [&](int64_t b, int64_t e) {
      for (int64_t p = b; p < e; ++p) bins.sorted_gauss[p] = emit_gauss[bins.sorted_emit[p]];
    });

    // 5. tile ranges
    bins.tile_start.assign(n_tiles + 1, 0);
    for (int64_t p = 0; p < n_isects; ++p) bins.tile_start[(sort_keys[p] >> rank_bits) + 1]++;
  };
  if (rank_bits + tile_bits <= 32)
    emit_and_sort(uint32_t{0});
  else
    emit_and_sort(uint64_t{0});
  for (int64_t t = 0; t < n_tiles; ++t) bins.tile_start[t + 1] += bins.tile_start[t];
  return bins;
}

template TileBins bin_tiles<float>(const float*, const float*, const float*, const float*,
                                   const int32_t*, int64_t, int64_t, int64_t, int64_t);
template TileBins bin_tiles<double>(const double*, const double*, const double*, const double*,
                                    const int32_t*, int64_t, int64_t, int64_t, int64_t);

}  // namespace sc
