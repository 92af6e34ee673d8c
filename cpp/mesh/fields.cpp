// Fields for meshing a scene: TSDF fusion of depth maps, the Gaussians'
// opacity field (binned into blocks of voxels), and the fill of enclosed
// voids. Per-voxel math: kernels/marching_cubes_fields.h.
#include "mesh/fields.h"

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "core/errors.h"
#include "core/thread_pool.h"
#include "kernels/marching_cubes_fields.h"

namespace sc {
namespace mesh {

void tsdf_integrate(const VoxelGrid& g, float* tsdf, float* weight, float* color, float* cweight,
                    const float* depth, const float* rgb, int64_t width, int64_t height,
                    const float* viewmat, const float* K, float trunc, float near_plane,
                    float max_weight, bool carve) {
  if (!(trunc > 0.0f)) throw ValueError("tsdf_integrate: trunc must be positive");
  ScTsdfCamera cam;
  for (int r = 0; r < 3; ++r)
    for (int c = 0; c < 4; ++c) cam.P[r * 4 + c] = viewmat[r * 4 + c];
  cam.fx = K[0];
  cam.fy = K[4];
  cam.cx = K[2];
  cam.cy = K[5];
  cam.width = (sc_i32)width;
  cam.height = (sc_i32)height;
  const int64_t n1 = g.dims[1], n2 = g.dims[2];
  const bool with_color = color && cweight && rgb;
  parallel_for(g.dims[0], 1, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) {
      const float x = g.origin[0] + g.voxel * (float)i;
      for (int64_t j = 0; j < n1; ++j) {
        const float y = g.origin[1] + g.voxel * (float)j;
        const int64_t row = (i * n1 + j) * n2;
        for (int64_t k = 0; k < n2; ++k) {
          const float z = g.origin[2] + g.voxel * (float)k;
          const int64_t v = row + k;
          sc_tsdf_voxel(x, y, z, cam, depth, with_color ? rgb : nullptr, trunc, near_plane,
                        max_weight, carve ? 1 : 0, tsdf + v, weight + v,
                        with_color ? color + 3 * v : nullptr, with_color ? cweight + v : nullptr);
        }
      }
    }
  });
}

GaussianBins bin_gaussians(const VoxelGrid& g, const float* means, const float* quats, const float* scales,
                           const float* opacities, int64_t n, float min_scale, float max_sigma) {
  const int64_t kBlock = kOpacityBlock;
  const int64_t* d = g.dims;
  GaussianBins bins;
  std::vector<float>& rec = bins.rec;
  std::vector<int32_t>& box = bins.box;
  rec.resize((size_t)(n * SC_GAUSS_RECORD));
  box.resize((size_t)(n * 6));
  parallel_for(n, 4096, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) {
      float he[3];
      int32_t* bx = box.data() + 6 * i;
      int ok = sc_gauss_record(means + 3 * i, quats + 4 * i, scales + 3 * i, opacities[i], min_scale,
                               max_sigma, rec.data() + SC_GAUSS_RECORD * i, he);
      for (int a = 0; a < 3; ++a) {
        float lo = (means[3 * i + a] - he[a] - g.origin[a]) / g.voxel;
        float hi = (means[3 * i + a] + he[a] - g.origin[a]) / g.voxel;
        bool fin = std::isfinite(lo) && std::isfinite(hi);
        int64_t l = fin ? (int64_t)std::max(0.0f, std::ceil(std::max(lo, -1.0f))) : 1;
        int64_t h = fin ? (int64_t)std::min((float)(d[a] - 1), std::floor(std::min(hi, (float)d[a])))
                        : 0;
        if (!ok || !fin) l = 1, h = 0;
        bx[a] = (int32_t)l;
        bx[3 + a] = (int32_t)h;
      }
    }
  });
  int64_t* nb = bins.blocks;
  for (int a = 0; a < 3; ++a) nb[a] = (d[a] + kBlock - 1) / kBlock;
  const int64_t nblocks = nb[0] * nb[1] * nb[2];
  // CSR lists: block -> Gaussians touching it (in Gaussian order)
  std::vector<int64_t>& start = bins.start;
  start.assign((size_t)nblocks + 1, 0);
  auto for_blocks = [&](int64_t i, auto&& fn) {
    const int32_t* bx = box.data() + 6 * i;
    if (bx[0] > bx[3] || bx[1] > bx[4] || bx[2] > bx[5]) return;
    for (int64_t x = bx[0] / kBlock; x <= bx[3] / kBlock; ++x)
      for (int64_t y = bx[1] / kBlock; y <= bx[4] / kBlock; ++y)
        for (int64_t z = bx[2] / kBlock; z <= bx[5] / kBlock; ++z) fn((x * nb[1] + y) * nb[2] + z);
  };
  for (int64_t i = 0; i < n; ++i) for_blocks(i, [&](int64_t blk) { start[(size_t)blk + 1]++; });
  for (int64_t b = 0; b < nblocks; ++b) start[(size_t)b + 1] += start[(size_t)b];
  bins.list.resize((size_t)start[(size_t)nblocks]);
  std::vector<int64_t> fill(start.begin(), start.end() - 1);
  for (int64_t i = 0; i < n; ++i)
    for_blocks(i, [&](int64_t blk) { bins.list[(size_t)fill[(size_t)blk]++] = (int32_t)i; });
  return bins;
}

int64_t opacity_field(const VoxelGrid& g, const float* means, const float* quats,
                      const float* scales, const float* opacities, const float* colors, int64_t n,
                      float min_scale, float max_sigma, float* field, float* color) {
  constexpr int64_t kBlock = kOpacityBlock;
  const int64_t* d = g.dims;
  const GaussianBins bins = bin_gaussians(g, means, quats, scales, opacities, n, min_scale, max_sigma);
  const std::vector<float>& rec = bins.rec;
  const std::vector<int32_t>& box = bins.box;
  const std::vector<int64_t>& start = bins.start;
  const std::vector<int32_t>& list = bins.list;
  const int64_t* nb = bins.blocks;
  const int64_t nblocks = nb[0] * nb[1] * nb[2];
  const int64_t pairs = bins.pairs();
  parallel_for(nblocks, 1, [&](int64_t b, int64_t e) {
    float acc[kBlock * kBlock * kBlock];
    float cacc[kBlock * kBlock * kBlock * 3];
    for (int64_t blk = b; blk < e; ++blk) {
      const int64_t bx = blk / (nb[1] * nb[2]), by = (blk / nb[2]) % nb[1], bz = blk % nb[2];
      const int64_t x0 = bx * kBlock, y0 = by * kBlock, z0 = bz * kBlock;
      const int64_t sx = std::min(kBlock, d[0] - x0), sy = std::min(kBlock, d[1] - y0),
                    sz = std::min(kBlock, d[2] - z0);
      std::fill(acc, acc + kBlock * kBlock * kBlock, 0.0f);
      if (color) std::fill(cacc, cacc + kBlock * kBlock * kBlock * 3, 0.0f);
      for (int64_t p = start[(size_t)blk]; p < start[(size_t)blk + 1]; ++p) {
        const int64_t gi = list[(size_t)p];
        const float* r = rec.data() + SC_GAUSS_RECORD * gi;
        const int32_t* gb = box.data() + 6 * gi;
        const int64_t lx = std::max<int64_t>(gb[0], x0) - x0, hx = std::min<int64_t>(gb[3], x0 + sx - 1) - x0;
        const int64_t ly = std::max<int64_t>(gb[1], y0) - y0, hy = std::min<int64_t>(gb[4], y0 + sy - 1) - y0;
        const int64_t lz = std::max<int64_t>(gb[2], z0) - z0, hz = std::min<int64_t>(gb[5], z0 + sz - 1) - z0;
        const float* c = colors ? colors + 3 * gi : nullptr;
        for (int64_t x = lx; x <= hx; ++x) {
          const float px = g.origin[0] + g.voxel * (float)(x0 + x);
          for (int64_t y = ly; y <= hy; ++y) {
            const float py = g.origin[1] + g.voxel * (float)(y0 + y);
            float* a = acc + (x * kBlock + y) * kBlock;
            for (int64_t z = lz; z <= hz; ++z) {
              const float pz = g.origin[2] + g.voxel * (float)(z0 + z);
              const float w = sc_gauss_eval(r, px, py, pz);
              a[z] += w;
              if (c) {
                float* ca = cacc + 3 * ((x * kBlock + y) * kBlock + z);
                ca[0] += w * c[0];
                ca[1] += w * c[1];
                ca[2] += w * c[2];
              }
            }
          }
        }
      }
      for (int64_t x = 0; x < sx; ++x)
        for (int64_t y = 0; y < sy; ++y)
          for (int64_t z = 0; z < sz; ++z) {
            const int64_t l = (x * kBlock + y) * kBlock + z;
            const int64_t v = ((x0 + x) * d[1] + (y0 + y)) * d[2] + (z0 + z);
            field[v] = acc[l];
            if (color) {
              const float inv = acc[l] > 0.0f ? 1.0f / acc[l] : 0.0f;
              for (int k = 0; k < 3; ++k) color[3 * v + k] = cacc[3 * l + k] * inv;
            }
          }
    }
  });
  return pairs;
}

int64_t fill_enclosed(const int64_t* dims, float* field, float level, float sign, float fill_value) {
  const int64_t n0 = dims[0], n1 = dims[1], n2 = dims[2];
  const int64_t total = n0 * n1 * n2;
  std::vector<uint8_t> seen((size_t)total, 0);
  auto outside = [&](int64_t v) { return !(sign * (field[v] - level) > 0.0f); };
  std::vector<int64_t> stack;
  auto push = [&](int64_t v) {
    if (!seen[(size_t)v] && outside(v)) {
      seen[(size_t)v] = 1;
      stack.push_back(v);
    }
  };
  for (int64_t i = 0; i < n0; ++i)
    for (int64_t j = 0; j < n1; ++j)
      for (int64_t k = 0; k < n2; ++k)
        if (i == 0 || j == 0 || k == 0 || i == n0 - 1 || j == n1 - 1 || k == n2 - 1)
          push((i * n1 + j) * n2 + k);
  while (!stack.empty()) {
    const int64_t v = stack.back();
    stack.pop_back();
    const int64_t i = v / (n1 * n2), j = (v / n2) % n1, k = v % n2;
    if (i > 0) push(v - n1 * n2);
    if (i + 1 < n0) push(v + n1 * n2);
    if (j > 0) push(v - n2);
    if (j + 1 < n1) push(v + n2);
    if (k > 0) push(v - 1);
    if (k + 1 < n2) push(v + 1);
  }
  int64_t filled = 0;
  for (int64_t v = 0; v < total; ++v)
    if (!seen[(size_t)v] && outside(v)) {
      field[v] = fill_value;
      ++filled;
    }
  return filled;
}

}  // namespace mesh
}  // namespace sc
