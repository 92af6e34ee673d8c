// Host side of the GPU rasterizer: launches the per-Gaussian stages
// (gpu/kernels/raster_gaussians.h), the two radix sorts, and the per-tile
// compositing (gpu/kernels/raster_tiles.h). One host read per forward: the
// intersection count (to size the intersection arrays) with the error words.
#include "gpu/ops/raster.h"

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <string>

#include "gpu/kernels/raster_args.h"
#include "gpu/ops/gpu_ops.h"
#include "gpu/ops/launch.h"
#include "gpu/runtime.h"
#include "kernels/composite.h"
#include "splat/binning.h"

namespace sc::gpu {

namespace {

// Shared memory a tile kernel may use beside its 32 static flag words.
constexpr size_t kTileSharedBudget = 24 * 1024;
constexpr int64_t kMaxTileSize = 16;

template <typename T>
ScRasterGaussianArgs<T> gaussian_args(const RasterDeviceState<T>& S) {
  ScRasterGaussianArgs<T> a{};
  const RasterConfig& c = S.cfg;
  a.means = gpu_ptr_or_null<const T>(S.means);
  a.quats = gpu_ptr_or_null<const T>(S.quats);
  a.scales = gpu_ptr_or_null<T>(S.scales);
  a.opacities = gpu_ptr_or_null<T>(S.opacities);
  a.colors = gpu_ptr_or_null<const T>(S.colors);
  a.colors_rest = gpu_ptr_or_null<const T>(S.colors_rest);
  a.mean2d = gpu_ptr_or_null<T>(S.mean2d);
  a.conic = gpu_ptr_or_null<T>(S.conic);
  a.opac_eff = gpu_ptr_or_null<T>(S.opac_eff);
  a.r2 = gpu_ptr_or_null<T>(S.r2);
  a.depth = gpu_ptr_or_null<T>(S.depth);
  a.feats = gpu_ptr_or_null<T>(S.feats);
  a.radii = gpu_ptr_or_null<int>(S.radii);
  a.by_depth = gpu_ptr_or_null<const unsigned int>(S.by_depth);
  a.offsets = gpu_ptr_or_null<unsigned int>(S.offsets);
  a.tile_ranges = gpu_ptr_or_null<unsigned int>(S.tile_ranges);
  a.emit_gauss = gpu_ptr_or_null<unsigned int>(S.emit_gauss);
  a.cam = S.cam;
  for (int k = 0; k < 16; ++k) a.Vinv[k] = S.Vinv[k];
  a.n = S.n;
  a.n_isects = S.n_isects;
  a.C = c.C, a.ncol = c.ncol, a.sh_degree = c.sh_degree, a.sh_k = c.sh_k, a.col_row = c.col_row;
  a.split = c.split, a.has_depth = c.has_depth, a.antialiased = c.antialiased, a.raw = c.raw;
  a.tiles_x = S.tiles_x, a.tiles_y = S.tiles_y, a.tile_size = c.tile_size;
  return a;
}

template <typename T>
ScRasterTileArgs<T> tile_args(const RasterDeviceState<T>& S) {
  ScRasterTileArgs<T> a{};
  a.mean2d = gpu_ptr_or_null<const T>(S.mean2d);
  a.conic = gpu_ptr_or_null<const T>(S.conic);
  a.opac_eff = gpu_ptr_or_null<const T>(S.opac_eff);
  a.feats = gpu_ptr_or_null<const T>(S.feats);
  a.tile_ranges = gpu_ptr_or_null<const unsigned int>(S.tile_ranges);
  a.sorted_emit = gpu_ptr_or_null<const unsigned int>(S.sorted_emit);
  a.emit_gauss = gpu_ptr_or_null<const unsigned int>(S.emit_gauss);
  a.trans = gpu_ptr_or_null<T>(S.trans);
  a.last = gpu_ptr_or_null<int>(S.last);
  for (int k = 0; k < 16; ++k) a.bg[k] = S.bg[k];
  a.alpha_max = (T)S.cfg.alpha_max;
  a.width = S.cfg.width, a.height = S.cfg.height, a.tile_size = S.cfg.tile_size;
  a.tiles_x = S.tiles_x, a.C = S.cfg.C;
  return a;
}

LaunchDims tile_dims(int tiles_x, int tiles_y, int ts, size_t shared_bytes) {
  LaunchDims d;
  d.grid.x = (uint32_t)tiles_x;
  d.grid.y = (uint32_t)tiles_y;
  d.group.x = d.group.y = (uint32_t)ts;
  d.dynamic_shared_bytes = (uint32_t)shared_bytes;
  return d;
}

// Pixels a thread of the backward tile kernel takes (raster_tiles.h): 0 picks
// (the RGB kernels take 2 where the tile size is even and leaves a full SIMD
// group), 1 or 2 force it where the tile size allows.
// SPLATCORE_RASTER_BACKWARD_PIXELS sets the start value.
std::atomic<int>& backward_pixels_setting() {
  static std::atomic<int> setting{[] {
    const char* e = std::getenv("SPLATCORE_RASTER_BACKWARD_PIXELS");
    return e ? std::atoi(e) : 0;
  }()};
  return setting;
}

int backward_pixels_per_thread(int C, int64_t ts) {
  if (C != 3) return 1;
  const int forced = backward_pixels_setting().load();
  return forced != 1 && ts % 2 == 0 && ts * ts / 2 >= 32 ? 2 : 1;
}

const char* error_name(int word, bool split) {
  switch (word) {
    case SC_RASTER_ERR_MEANS: return "means";
    case SC_RASTER_ERR_QUATS: return "quats";
    case SC_RASTER_ERR_SCALES: return "scales";
    case SC_RASTER_ERR_OPACITIES: return "opacities";
    default: return split ? "sh0 or shN" : "colors_or_sh";
  }
}

}  // namespace

int set_raster_backward_pixels(int pixels) {
  if (pixels != 0 && pixels != 1 && pixels != 2)
    throw ValueError("raster backward pixels per thread: expected 0 (automatic), 1 or 2, got " +
                     std::to_string(pixels));
  return backward_pixels_setting().exchange(pixels);
}

template <typename T>
void raster_forward(RasterDeviceState<T>& S, const Tensor& image, const Tensor& alpha) {
  const RasterConfig& c = S.cfg;
  const Device dev = S.means.device();
  Runtime& rt = runtime(dev);
  const DType dt = dtype_of<T>::value;
  const int64_t n = S.n, ts = c.tile_size;
  // a group of tile_size^2 threads per tile; 256 keeps every kernel within
  // every backend's registers per group
  if (ts > kMaxTileSize)
    throw ValueError("rasterize: tile_size must be at most " + std::to_string(kMaxTileSize) +
                     " on a GPU device (a group of tile_size^2 threads per tile), got " + std::to_string(ts));
  S.tiles_x = (int)((c.width + ts - 1) / ts);
  S.tiles_y = (int)((c.height + ts - 1) / ts);
  const int64_t n_tiles = (int64_t)S.tiles_x * S.tiles_y;
  if (c.raw) {  // log-scales and logits -> scales and opacities
    Tensor raw_s = S.scales, raw_o = S.opacities;
    S.scales = Tensor::empty({n, 3}, dt, dev);
    S.opacities = Tensor::empty({n}, dt, dev);
    ScRasterGaussianArgs<T> a = gaussian_args(S);
    a.raw_scales = gpu_ptr<const T>(raw_s);
    a.raw_opacities = gpu_ptr<const T>(raw_o);
    launch(rt, typed_kernel("raster_activate", dt), groups_for(n), a,
           {buffer_of(raw_s), buffer_of(raw_o), buffer_of(S.scales), buffer_of(S.opacities)});
  }
  S.mean2d = Tensor::empty({n, 2}, dt, dev);
  S.conic = Tensor::empty({n, 3}, dt, dev);
  S.opac_eff = Tensor::empty({n}, dt, dev);
  S.r2 = Tensor::empty({n}, dt, dev);
  S.depth = Tensor::empty({n}, dt, dev);
  S.feats = Tensor::empty({n, c.C}, dt, dev);
  S.radii = Tensor::empty({n, 2}, DType::Int32, dev);
  S.offsets = Tensor::empty({n + 1}, DType::UInt32, dev);
  Tensor depth_key = Tensor::empty({n}, DType::UInt32, dev);
  Tensor identity = Tensor::empty({n}, DType::UInt32, dev);
  Tensor errors = Tensor::zeros({SC_RASTER_STATUS_WORDS}, DType::UInt32, dev);
  S.by_depth = Tensor::empty({n}, DType::UInt32, dev);
  {  // 1. projection, features and depth keys
    ScRasterGaussianArgs<T> a = gaussian_args(S);
    a.depth_key = gpu_ptr<unsigned int>(depth_key);
    a.identity = gpu_ptr<unsigned int>(identity);
    a.errors = gpu_ptr<unsigned int>(errors);
    launch(rt, typed_kernel("raster_project", dt), groups_for(n), a,
           {buffer_of(S.means), buffer_of(S.quats), buffer_of(S.scales), buffer_of(S.opacities), buffer_of(S.colors), buffer_of(S.colors_rest),
            buffer_of(S.mean2d), buffer_of(S.conic), buffer_of(S.opac_eff), buffer_of(S.r2), buffer_of(S.depth), buffer_of(S.feats), buffer_of(S.radii),
            buffer_of(depth_key), buffer_of(identity), buffer_of(errors)});
  }
  // 2. front to back (stable: equal depths keep index order, as on the CPU)
  {
    Tensor sorted_keys = Tensor::empty({n}, DType::UInt32, dev);
    radix_sort_pairs(sorted_keys, S.by_depth, depth_key, identity, 0, 32);
  }
  // 3. tile counts in depth order, scanned into emission offsets
  {
    ScRasterGaussianArgs<T> a = gaussian_args(S);
    a.errors = gpu_ptr<unsigned int>(errors);
    launch(rt, typed_kernel("raster_count", dt), groups_for(32 * (n + 1)), a,
           {buffer_of(S.by_depth), buffer_of(S.offsets), buffer_of(S.mean2d), buffer_of(S.conic), buffer_of(S.r2),
            buffer_of(errors)});
    exclusive_scan_u32(S.offsets);
  }
  // the one host read: the error words and the intersection total (64 bits)
  uint32_t status[SC_RASTER_STATUS_WORDS];
  rt.copy_to_host(status, gpu_ptr<unsigned int>(errors), sizeof(status));
  for (int w = 0; w < SC_RASTER_ERR_WORDS; ++w)
    if (status[w])
      throw ValueError(std::string("rasterize: ") + error_name(w, c.split) + " contains NaN or infinite values");
  const uint64_t total = (uint64_t)status[SC_RASTER_TOTAL_HI] << 32 | status[SC_RASTER_TOTAL_LO];
  if (total >= (uint64_t)UINT32_MAX)  // the scan's offsets are 32-bit
    throw ValueError("rasterize: " + std::to_string(total) +
                     " Gaussian-tile intersections exceed the 32-bit index range");
  S.n_isects = (int64_t)total;
  const int64_t m = S.n_isects;
  // 4. emission, then the stable sort by tile id on only the bits tile ids need
  S.emit_gauss = Tensor::empty({std::max<int64_t>(m, 1)}, DType::UInt32, dev);
  S.sorted_emit = Tensor::empty({std::max<int64_t>(m, 1)}, DType::UInt32, dev);
  S.tile_ranges = Tensor::zeros({n_tiles, 2}, DType::UInt32, dev);
  if (m > 0) {
    Tensor tile_keys = Tensor::empty({m}, DType::UInt32, dev), emit_ids = Tensor::empty({m}, DType::UInt32, dev);
    Tensor sorted_tiles = Tensor::empty({m}, DType::UInt32, dev);
    ScRasterGaussianArgs<T> a = gaussian_args(S);
    a.tile_keys = gpu_ptr<unsigned int>(tile_keys);
    a.emit_ids = gpu_ptr<unsigned int>(emit_ids);
    launch(rt, typed_kernel("raster_emit", dt), groups_for(32 * n), a,
           {buffer_of(S.by_depth), buffer_of(S.offsets), buffer_of(S.mean2d), buffer_of(S.conic), buffer_of(S.r2), buffer_of(tile_keys), buffer_of(emit_ids),
            buffer_of(S.emit_gauss)});
    radix_sort_pairs(sorted_tiles, S.sorted_emit, tile_keys, emit_ids, 0,
                     sort_key_bits((uint64_t)n_tiles));
    a.sorted_tiles = gpu_ptr<const unsigned int>(sorted_tiles);
    launch(rt, typed_kernel("raster_tile_ranges", dt), groups_for(m), a, {buffer_of(sorted_tiles), buffer_of(S.tile_ranges)});
  }
  // 5. compositing, a group per tile
  S.trans = Tensor::empty({c.height, c.width, 1}, dt, dev);
  S.last = Tensor::empty({c.height, c.width}, DType::Int32, dev);
  ScRasterTileArgs<T> a = tile_args(S);
  a.image = gpu_ptr<T>(image);
  a.alpha = gpu_ptr<T>(alpha);
  const size_t rec_bytes = sizeof(T) * sc_record_stride(c.C);
  a.batch = (int)std::min<int64_t>(ts * ts, (int64_t)(kTileSharedBudget / rec_bytes));
  launch(rt, typed_kernel(c.C == 3 ? "raster_forward_rgb" : "raster_forward", dt), tile_dims(S.tiles_x, S.tiles_y, (int)ts, a.batch * rec_bytes), a,
         {buffer_of(S.mean2d), buffer_of(S.conic), buffer_of(S.opac_eff), buffer_of(S.feats), buffer_of(S.tile_ranges), buffer_of(S.sorted_emit),
          buffer_of(S.emit_gauss), buffer_of(image), buffer_of(alpha), buffer_of(S.trans), buffer_of(S.last)});
}

template <typename T>
RasterGradients raster_backward(const RasterDeviceState<T>& S, const Tensor& v_image, const Tensor& v_alpha,
                                bool view_grad) {
  const RasterConfig& c = S.cfg;
  const Device dev = S.means.device();
  Runtime& rt = runtime(dev);
  const DType dt = dtype_of<T>::value;
  const int64_t n = S.n, ts = c.tile_size;
  const int gs = sc_grad_stride(c.C);
  Tensor vi = v_image.contiguous(), va = v_alpha.contiguous();
  // 1. per intersection, a group per tile
  Tensor isect_grad = Tensor::empty({std::max<int64_t>(1, S.n_isects * gs)}, dt, dev);
  {
    ScRasterTileArgs<T> a = tile_args(S);
    a.v_image = gpu_ptr<const T>(vi);
    a.v_alpha = gpu_ptr<const T>(va);
    a.isect_grad = gpu_ptr<T>(isect_grad);
    const int P = backward_pixels_per_thread(c.C, ts);
    const int64_t simds = (ts * ts / P + 31) / 32;
    const size_t per_record = sizeof(T) * (sc_record_stride(c.C) + simds * gs) + sizeof(uint32_t);
    a.batch = (int)std::max<int64_t>(1, std::min<int64_t>(64, (int64_t)(kTileSharedBudget / per_record)));
    LaunchDims dims = tile_dims(S.tiles_x, S.tiles_y, (int)ts, a.batch * per_record);
    dims.group.y = (uint32_t)(ts / P);
    const char* name = c.C != 3 ? "raster_backward" : P == 2 ? "raster_backward_rgb_p2" : "raster_backward_rgb";
    launch(rt, typed_kernel(name, dt), dims, a,
           {buffer_of(S.mean2d), buffer_of(S.conic), buffer_of(S.opac_eff), buffer_of(S.feats), buffer_of(S.tile_ranges), buffer_of(S.sorted_emit),
            buffer_of(S.emit_gauss), buffer_of(S.trans), buffer_of(S.last), buffer_of(vi), buffer_of(va), buffer_of(isect_grad)});
  }
  // 2. per Gaussian
  RasterGradients g;
  g.means = Tensor::empty({n, 3}, dt, dev);
  g.quats = Tensor::empty({n, 4}, dt, dev);
  g.scales = Tensor::empty({n, 3}, dt, dev);
  g.opacities = Tensor::empty({n}, dt, dev);
  g.colors = Tensor::empty(S.colors.shape(), dt, dev);
  if (c.split) g.colors_rest = Tensor::empty(S.colors_rest.shape(), dt, dev);
  g.mean2d = Tensor::empty({n, 2}, dt, dev);
  g.absgrad = Tensor::empty({n, 2}, dt, dev);
  if (view_grad) g.view_rows = Tensor::empty({n, 16}, dt, dev);
  ScRasterGaussianArgs<T> a = gaussian_args(S);
  a.isect_grad = gpu_ptr<const T>(isect_grad);
  Tensor isect_sums = Tensor::empty({n, gs + 1}, dt, dev);
  a.isect_sums = gpu_ptr<T>(isect_sums);
  launch(rt, typed_kernel("raster_sum_isects", dt), groups_for(32 * n), a,
         {buffer_of(S.by_depth), buffer_of(S.offsets), buffer_of(isect_grad), buffer_of(isect_sums)});
  a.v_means = gpu_ptr<T>(g.means);
  a.v_quats = gpu_ptr<T>(g.quats);
  a.v_scales = gpu_ptr<T>(g.scales);
  a.v_opacities = gpu_ptr<T>(g.opacities);
  a.v_colors = gpu_ptr<T>(g.colors);
  a.v_colors_rest = gpu_ptr_or_null<T>(g.colors_rest);
  a.v_mean2d = gpu_ptr<T>(g.mean2d);
  a.v_absgrad = gpu_ptr<T>(g.absgrad);
  a.v_view_rows = gpu_ptr_or_null<T>(g.view_rows);
  a.want_view = view_grad ? 1 : 0;
  launch(rt, typed_kernel("raster_gaussian_backward", dt), groups_for(n), a,
         {buffer_of(S.means), buffer_of(S.quats), buffer_of(S.scales), buffer_of(S.opacities), buffer_of(S.colors), buffer_of(S.colors_rest), buffer_of(isect_sums), buffer_of(g.means), buffer_of(g.quats), buffer_of(g.scales), buffer_of(g.opacities), buffer_of(g.colors),
          buffer_of(g.colors_rest), buffer_of(g.mean2d), buffer_of(g.absgrad), buffer_of(g.view_rows)});
  return g;
}

template void raster_forward<float>(RasterDeviceState<float>&, const Tensor&, const Tensor&);
template void raster_forward<double>(RasterDeviceState<double>&, const Tensor&, const Tensor&);
template RasterGradients raster_backward<float>(const RasterDeviceState<float>&, const Tensor&, const Tensor&, bool);
template RasterGradients raster_backward<double>(const RasterDeviceState<double>&, const Tensor&, const Tensor&,
                                                 bool);

}  // namespace sc::gpu
