#include "splat/binning.h"

#include <algorithm>
#include <cmath>

#include "core/errors.h"
#include "core/thread_pool.h"
#include "kernels/projection.h"
#include "kernels/tile_binning.h"
#include "kernels/radix_sort.h"
#include "ops/sort.h"

namespace sc {

namespace {

// Calls fn(tile_id) for every tile whose pixel centres the footprint reaches
// (kernels/tile_binning.h, shared with the GPU rasterizer).
template <typename T, typename Fn>
void for_each_tile(const T* m, const T* conic, T r2, int64_t W, int64_t H, int64_t ts,
                   int64_t tiles_x, Fn&& fn) {
  int box[4];
  if (!sc_footprint_pixel_box(m[0], m[1], conic[0], conic[1], conic[2], r2, (int)W, (int)H, box)) return;
  T limit = sc_tile_limit(r2);
  for (int ty = box[2] / (int)ts; ty <= box[3] / (int)ts; ++ty)
    for (int tx = box[0] / (int)ts; tx <= box[1] / (int)ts; ++tx)
      if (sc_tile_reached(m[0], m[1], conic[0], conic[1], conic[2], limit, box, tx, ty, (int)ts))
        fn(ty * tiles_x + tx);
}

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
  std::vector<uint32_t> vis;
  vis.reserve(n);
  for (int64_t i = 0; i < n; ++i)
    if (radii[2 * i] > 0 || radii[2 * i + 1] > 0) vis.push_back((uint32_t)i);
  int64_t nv = (int64_t)vis.size();
  std::vector<uint32_t> keys(nv);
  parallel_for(nv, 8192, [&](int64_t b, int64_t e) {
    for (int64_t j = b; j < e; ++j) keys[j] = sc_float_to_sortable_u32((float)depths[vis[j]]);
  });
  radix_sort_pairs(keys.data(), vis.data(), nv, 0, 32);
  std::vector<uint32_t> rank(n, 0);
  parallel_for(nv, 65536, [&](int64_t b, int64_t e) {
    for (int64_t j = b; j < e; ++j) rank[vis[j]] = (uint32_t)j;
  });

  // 2. the tiles each Gaussian touches, listed once per block of Gaussians (in
  //    index order), and the exclusive prefix sum of their counts
  const int64_t gblock = 2048;
  int64_t nblocks = (n + gblock - 1) / gblock;
  std::vector<std::vector<uint32_t>> block_tiles(nblocks);
  std::vector<int64_t> counts(n, 0);
  parallel_for(nblocks, 1, [&](int64_t bb, int64_t be) {
    for (int64_t blk = bb; blk < be; ++blk) {
      std::vector<uint32_t>& L = block_tiles[blk];
      for (int64_t g = blk * gblock; g < std::min(n, (blk + 1) * gblock); ++g) {
        if (radii[2 * g] <= 0 && radii[2 * g + 1] <= 0) continue;
        size_t before = L.size();
        for_each_tile(means2d + 2 * g, conics + 3 * g, r2[g], W, H, ts, bins.tiles_x,
                      [&](int64_t tile) { L.push_back((uint32_t)tile); });
        counts[g] = (int64_t)(L.size() - before);
      }
    }
  });
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
    using K = decltype(key_zero);
    std::vector<K> sort_keys(n_isects);
    std::vector<uint32_t> emit_ids(n_isects), emit_gauss(n_isects);
    parallel_for(nblocks, 1, [&](int64_t bb, int64_t be) {
      for (int64_t blk = bb; blk < be; ++blk) {
        const uint32_t* tile = block_tiles[blk].data();
        for (int64_t g = blk * gblock; g < std::min(n, (blk + 1) * gblock); ++g) {
          K r = (K)rank[g];
          for (int64_t o = bins.emit_offset[g]; o < bins.emit_offset[g + 1]; ++o) {
            sort_keys[o] = ((K)*tile++ << rank_bits) | r;
            emit_ids[o] = (uint32_t)o;
            emit_gauss[o] = (uint32_t)g;
          }
        }
      }
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
