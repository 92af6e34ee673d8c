// The differentiable rasterizer: forward stages, the fused backward, and the
// autograd registration (one node for the whole pipeline).
#include "splat/rasterize.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <type_traits>
#include <memory>

#include "autograd/function.h"
#include "core/profile.h"
#include "core/thread_pool.h"
#include "kernels/composite.h"
#include "kernels/projection.h"
#include "kernels/sh.h"
#include "ops/ops.h"
#include "splat/binning.h"
#include "splat/composite_rows.h"
#include "splat/finite.h"
#include "splat/gaussians_kernels.h"
#include "splat/raster_setup.h"
#include "splat/rasterize_gpu.h"

namespace sc {

SC_TARGET_DISPATCH(GaussianTables, gaussian_kernels)

// alpha = min(0.99, opacity * G) as in the original 3DGS (ARCHITECTURE.md);
// gsplat's golden scenes never reach the clamp, so they agree with either.
static constexpr double kAlphaMax = 0.99;
static constexpr int kMaxChannels = SC_MAX_CHANNELS;

RenderMode parse_render_mode(const std::string& s) {
  if (s == "RGB") return RenderMode::RGB;
  if (s == "D") return RenderMode::D;
  if (s == "ED") return RenderMode::ED;
  if (s == "RGB+D") return RenderMode::RGB_D;
  if (s == "RGB+ED") return RenderMode::RGB_ED;
  throw ValueError("render_mode: expected one of 'RGB', 'D', 'ED', 'RGB+D', 'RGB+ED', got '" + s + "'");
}

namespace {

using raster::has_color;
using raster::has_depth;

// ---- argument checks ----------------------------------------------------------
// One pass, no temporaries (the op-based version allocated ~8 bytes per
// element and cost more than projecting the Gaussians).
void check_finite(const Tensor& t, const char* name) {
  if (!t.defined()) return;
  Tensor c = t.detach();
  if (c.device().is_gpu()) c = c.to_device(Device{});  // viewmat, K, background: small
  c = c.contiguous();
  bool ok = true;
  SC_DISPATCH_FLOAT(c.dtype(), "rasterize", {
    const scalar_t* p = c.data<scalar_t>();
    int64_t n = c.numel();
    const int64_t chunk = 1 << 16;
    int64_t nchunks = (n + chunk - 1) / chunk;
    std::vector<char> bad(nchunks, 0);
    parallel_for(nchunks, 1, [&](int64_t b, int64_t e) {
      for (int64_t k = b; k < e; ++k)
        bad[k] = !all_finite(p + k * chunk, (int)(std::min(n, (k + 1) * chunk) - k * chunk));
    });
    for (char b : bad) ok = ok && !b;
  });
  if (!ok) throw ValueError(std::string("rasterize: ") + name + " contains NaN or infinite values");
}

void check_shape(const Tensor& t, const Shape& expect, const char* name) {
  bool ok = t.ndim() == (int64_t)expect.size();
  for (size_t i = 0; ok && i < expect.size(); ++i) ok = expect[i] < 0 || t.shape()[i] == expect[i];
  if (!ok) {
    std::string e = "(";
    for (size_t i = 0; i < expect.size(); ++i)
      e += (i ? ", " : "") + (expect[i] < 0 ? std::string("*") : std::to_string(expect[i]));
    throw ValueError(std::string("rasterize: ") + name + " must have shape " + e +
                     (expect.size() == 1 ? ",)" : ")") + ", got " + shape_str(t.shape()));
  }
}

// Per-Gaussian inputs on the device of means; the camera and background on
// the CPU or that device.
void check_devices(const Tensor& means, std::initializer_list<std::pair<const Tensor*, const char*>> per_gaussian,
                   std::initializer_list<std::pair<const Tensor*, const char*>> small) {
  const Device d = means.device();
  for (auto& [t, name] : per_gaussian)
    if (t->defined() && t->device() != d)
      throw ValueError(std::string("rasterize: ") + name + " is on " + t->device().str() + " but means is on " +
                       d.str() + "; the per-Gaussian inputs must share one device");
  for (auto& [t, name] : small)
    if (t->defined() && t->device() != d && t->device().is_gpu())
      throw ValueError(std::string("rasterize: ") + name + " is on " + t->device().str() +
                       "; expected the CPU or the device of means (" + d.str() + ")");
}

void check_options(const RasterizeOptions& opt) {
  if (opt.width <= 0 || opt.height <= 0)
    throw ValueError("rasterize: width and height must be positive, got " + std::to_string(opt.width) +
                     "x" + std::to_string(opt.height));
  if (opt.tile_size < 1 || opt.tile_size > 256)
    throw ValueError("rasterize: tile_size must be in [1, 256], got " + std::to_string(opt.tile_size));
  if (!(opt.near_plane > 0) || !(opt.far_plane > opt.near_plane))
    throw ValueError("rasterize: need 0 < near < far, got near=" + std::to_string(opt.near_plane) +
                     " far=" + std::to_string(opt.far_plane));
}

// means float32/float64, and every other (defined) input of that dtype.
template <size_t N>
void check_dtypes(const Tensor& means, const std::pair<const Tensor*, const char*> (&args)[N]) {
  DType dt = means.dtype();
  if (dt != DType::Float32 && dt != DType::Float64)
    throw TypeError(std::string("rasterize: means must be float32 or float64, got ") + dtype_name(dt));
  for (auto& [t, name] : args)
    if (t->defined() && t->dtype() != dt)
      throw TypeError(std::string("rasterize: ") + name + " has dtype " + dtype_name(t->dtype()) +
                      " but means has " + dtype_name(dt) + "; all inputs must share one dtype");
}

// Per-row record lists of a tile (see sc_composite_forward_row's `idx`):
// record k reaches pixel row py only if 0.5 dy^2 (C - B^2/A) <= ln(255 op),
// i.e. |my - py| <= sqrt(r2 A / det) with r2 = 2 ln(255 op) (the row-wise
// minimum of the Mahalanobis distance). Slightly widened so that rounding
// never drops a row the per-pixel test would draw.
struct RowLists {
  std::vector<int32_t> start;  // per row (+1): range in idx
  std::vector<int32_t> idx;    // record indices, depth order within each row
  std::vector<int32_t> lo, hi; // scratch: each record's row range
};

// One tile ready for compositing: its records (front to back), pixel bounds
// and per-row record lists. The forward and the backward build it alike.
template <typename T>
struct Tile {
  int64_t id = 0, n = 0, x0 = 0, x1 = 0, y0 = 0, y1 = 0;
  std::vector<T> recs;
  RowLists rows;
  const int32_t* row_idx(int64_t y) const { return rows.idx.data() + rows.start[y - y0]; }
  int row_len(int64_t y) const { return rows.start[y - y0 + 1] - rows.start[y - y0]; }
};

// Everything the backward needs, kept alive by the autograd closure; the
// camera, inverse(viewmat), campos, channels and background per channel come
// from raster::Setup (shared with the GPU rasterizer).
template <typename T>
struct RasterState : raster::Setup<T> {
  RasterizeOptions opt;
  int64_t n = 0;
  Tensor means, quats, scales, opacities, colors, background;  // detached, contiguous
  // Training-parameter form (rasterize_params): scales / opacities above hold the
  // activated exp(log-scale) / sigmoid(logit), and the SH coefficients come as
  // colors = DC (N,1,3) plus colors_rest (N,K-1,3), read in place (no concat).
  bool raw = false;
  Tensor colors_rest;
  std::vector<T> mean2d, conic, opac_eff, r2, depth, feats;     // per Gaussian
  std::vector<int32_t> radii;
  TileBins bins;
  std::vector<T> trans;       // per pixel final transmittance
  std::vector<int32_t> last;  // per pixel: records walked (sc_composite_forward's return)
  // Tiles prepared by the forward (records and row lists), kept for the backward
  // when a gradient may follow, so it does not gather and sort them again.
  bool keep_tiles = false;
  mutable std::vector<Tile<T>> tiles;
};

// The per-Gaussian kernels of the CPU target in use (splat/gaussians_kernels.h)
// and the pointers they work on.
template <typename T>
const GaussianKernels<T>& gaussian_kernels_of() {
  return by_dtype<T>(gaussian_kernels());
}

template <typename T>
GaussianArgs<T> gaussian_args(const RasterState<T>& S) {
  GaussianArgs<T> a;
  a.n = S.n;
  a.width = S.opt.width;
  a.height = S.opt.height;
  a.cam = S.cam;
  a.campos = S.campos;
  a.Vinv = S.Vinv;
  a.antialiased = S.opt.antialiased ? 1 : 0;
  a.raw = S.raw ? 1 : 0;
  a.mean = S.means.template data<T>();
  a.quat = S.quats.template data<T>();
  a.scale = S.scales.template data<T>();
  a.opac = S.opacities.template data<T>();
  a.C = S.C;
  a.ncol = has_color(S.opt.mode) ? (S.opt.sh_degree ? 3 : S.colors.shape()[1]) : 0;
  a.sh_k = S.sh_k;
  a.sh_degree = S.opt.sh_degree ? (int)*S.opt.sh_degree : -1;
  a.depth = has_depth(S.opt.mode) ? 1 : 0;
  a.split = S.colors_rest.defined() ? 1 : 0;
  a.colors = S.colors.template data<T>();
  a.colors_rest = a.split ? S.colors_rest.template data<T>() : nullptr;
  a.col_row = S.colors.numel() / std::max<int64_t>(S.n, 1);
  a.col_used = a.ncol == 0 ? 0 : (a.sh_degree >= 0 ? (a.sh_degree + 1) * (a.sh_degree + 1) * 3 : a.ncol);
  return a;
}

// Projects every Gaussian (GaussianKernels::project, which also checks the
// per-Gaussian inputs are finite; the slow path below names the culprit).
template <typename T>
void project_all(RasterState<T>& S) {
  int64_t n = S.n;
  S.mean2d.assign(2 * n, 0);
  S.conic.assign(3 * n, 0);
  S.opac_eff.assign(n, 0);
  S.r2.assign(n, -1);
  S.radii.assign(2 * n, 0);
  S.depth.assign(n, 0);
  GaussianArgs<T> a = gaussian_args(S);
  a.mean2d = S.mean2d.data();
  a.conic = S.conic.data();
  a.opac_eff = S.opac_eff.data();
  a.r2 = S.r2.data();
  a.depths = S.depth.data();
  a.radii = S.radii.data();
  const auto project = gaussian_kernels_of<T>().project;
  const int64_t block = 2048;
  std::vector<char> bad((n + block - 1) / block, 0);
  parallel_for(n, block, [&](int64_t b, int64_t e) {
    if (!project(a, b, e)) bad[b / block] = 1;
  });
  if (std::any_of(bad.begin(), bad.end(), [](char c) { return c != 0; })) {
    check_finite(S.means, "means");  // name the culprit (slow path, errors only)
    check_finite(S.quats, "quats");
    check_finite(S.scales, "scales");
    check_finite(S.opacities, "opacities");
  }
}

// Per-Gaussian features: colours (given or from SH) then the depth channel.
template <typename T>
void compute_features(RasterState<T>& S) {
  int64_t n = S.n;
  S.feats.assign(n * S.C, 0);
  GaussianArgs<T> a = gaussian_args(S);
  a.radii = S.radii.data();
  a.feats = S.feats.data();
  const auto features = gaussian_kernels_of<T>().features;
  const int64_t block = 2048;
  std::vector<char> bad((n + block - 1) / block, 0);
  parallel_for(n, block, [&](int64_t b, int64_t e) {
    if (!features(a, b, e)) bad[b / block] = 1;
  });
  if (std::any_of(bad.begin(), bad.end(), [](char c) { return c != 0; }))
    throw ValueError(std::string("rasterize: ") + (S.colors_rest.defined() ? "sh0 or shN" : "colors_or_sh") +
                     " contains NaN or infinite values");
}

// Gathers a tile's records (front to back) into `recs`.
template <typename T>
int64_t gather_tile(const RasterState<T>& S, int64_t tile, std::vector<T>& recs) {
  int64_t b = S.bins.tile_start[tile], e = S.bins.tile_start[tile + 1];
  int stride = sc_record_stride((int)S.C);
  recs.resize((e - b) * stride);
  for (int64_t p = b; p < e; ++p) {
    uint32_t g = S.bins.sorted_gauss[p];
    T* r = recs.data() + (p - b) * stride;
    r[0] = S.mean2d[2 * g];
    r[1] = S.mean2d[2 * g + 1];
    r[2] = S.conic[3 * g];
    r[3] = S.conic[3 * g + 1];
    r[4] = S.conic[3 * g + 2];
    r[5] = S.opac_eff[g];
    for (int64_t c = 0; c < S.C; ++c) r[6 + c] = S.feats[g * S.C + c];
  }
  return e - b;
}

// The row kernels of the CPU target in use (splat/composite_rows.h: explicit
// SIMD rows for AVX-512, AVX2, SSE2 or NEON, or the portable kernels, chosen at
// run time; SPLATCORE_CPU_TARGET forces one).
template <typename T>
inline void forward_row(T px0, T py, int lanes, int n, int C, const T* recs, const int* idx, T* acc,
                        T* tr, int* last) {
  row_kernels<T>().forward(px0, py, lanes, n, C, recs, idx, T(kAlphaMax), acc, tr, last);
}

template <typename T>
inline void backward_row(T px0, T py, int lanes, int C, const T* recs, const int* idx, const T* tr,
                         const int* last, const T* vout, const T* valpha, const T* bg, T* grads) {
  row_kernels<T>().backward(px0, py, lanes, C, recs, idx, T(kAlphaMax), tr, last, vout, valpha, bg, grads);
}

template <typename T>
void build_row_lists(const T* recs, int64_t n, int stride, int64_t y0, int64_t rows, RowLists& L) {
  L.start.assign(rows + 1, 0);
  L.lo.resize(n);
  L.hi.resize(n);
  for (int64_t k = 0; k < n; ++k) {
    const T* r = recs + k * stride;
    T A = r[2], B = r[3], Cc = r[4], op = r[5];
    int64_t lo = 0, hi = rows - 1;
    T det = A * Cc - B * B;
    if (A > T(0) && det > T(0)) {
      T r2 = T(2) * std::log(std::max(op, T(1e-30)) * T(255) / T(0.999));
      if (r2 < T(0)) {
        lo = 1, hi = 0;  // alpha < 1/255 everywhere
      } else {
        T h = std::sqrt(r2 * A / det) * T(1.001) + T(1e-3);
        lo = std::max<int64_t>(lo, (int64_t)std::ceil(r[1] - h - T(0.5)) - y0);
        hi = std::min<int64_t>(hi, (int64_t)std::floor(r[1] + h - T(0.5)) - y0);
      }
    }
    L.lo[k] = (int32_t)lo;
    L.hi[k] = (int32_t)hi;
    for (int64_t y = lo; y <= hi; ++y) L.start[y + 1]++;
  }
  for (int64_t y = 0; y < rows; ++y) L.start[y + 1] += L.start[y];
  L.idx.resize(L.start[rows]);
  int32_t cursor[256];  // tile_size <= 256
  for (int64_t y = 0; y < rows; ++y) cursor[y] = L.start[y];
  for (int64_t k = 0; k < n; ++k)
    for (int64_t y = L.lo[k]; y <= L.hi[k]; ++y) L.idx[cursor[y]++] = (int32_t)k;
}

// Tiles, most intersections first: handed out one at a time (parallel_for_each)
// this keeps both cores busy to the end even when a few tiles hold most of
// the work (the dense middle of a scene).
inline std::vector<int64_t> tiles_by_cost(const TileBins& bins) {
  int64_t n_tiles = bins.tiles_x * bins.tiles_y;
  std::vector<int64_t> order(n_tiles);
  for (int64_t t = 0; t < n_tiles; ++t) order[t] = t;
  std::stable_sort(order.begin(), order.end(), [&](int64_t a, int64_t b) {
    return bins.tile_start[a + 1] - bins.tile_start[a] > bins.tile_start[b + 1] - bins.tile_start[b];
  });
  return order;
}


// Calls fn(tile) for every tile, in parallel, largest first. Tiles come from
// S.tiles when the forward kept them; otherwise they are built here (and kept
// when S.keep_tiles asks for it).
template <typename T, typename Fn>
void for_each_tile_parallel(const RasterState<T>& S, Fn&& fn) {
  int64_t W = S.opt.width, H = S.opt.height, ts = S.opt.tile_size;
  std::vector<int64_t> order = tiles_by_cost(S.bins);
  const bool cached = !S.tiles.empty();
  if (!cached && S.keep_tiles) S.tiles.resize(order.size());
  parallel_for_each((int64_t)order.size(), [&](int64_t task) {
    if (cached) {
      fn(S.tiles[order[task]]);
      return;
    }
    Tile<T> local;
    Tile<T>& t = S.keep_tiles ? S.tiles[order[task]] : local;
    t.id = order[task];
    t.n = gather_tile(S, t.id, t.recs);
    int64_t tx = t.id % S.bins.tiles_x, ty = t.id / S.bins.tiles_x;
    t.x0 = tx * ts;
    t.x1 = std::min(W, (tx + 1) * ts);
    t.y0 = ty * ts;
    t.y1 = std::min(H, (ty + 1) * ts);
    build_row_lists(t.recs.data(), t.n, sc_record_stride((int)S.C), t.y0, t.y1 - t.y0, t.rows);
    fn(t);
  });
}

template <typename T>
void composite_all(RasterState<T>& S, T* image, T* alpha) {
  int64_t W = S.opt.width, H = S.opt.height, C = S.C;
  S.trans.assign(W * H, T(1));
  S.last.assign(W * H, 0);
  for_each_tile_parallel(S, [&](const Tile<T>& t) {
    T acc[SC_MAX_LANES * SC_MAX_CHANNELS], tr[SC_MAX_LANES];
    int last[SC_MAX_LANES];
    for (int64_t y = t.y0; y < t.y1; ++y)
      for (int64_t xs = t.x0; xs < t.x1; xs += SC_MAX_LANES) {
        int lanes = (int)std::min<int64_t>(SC_MAX_LANES, t.x1 - xs);
        forward_row(T(xs) + T(0.5), T(y) + T(0.5), lanes, t.row_len(y), (int)C, t.recs.data(),
                    t.row_idx(y), acc, tr, last);
        for (int j = 0; j < lanes; ++j) {
          int64_t pix = y * W + xs + j;
          S.trans[pix] = tr[j];
          S.last[pix] = last[j];
          for (int64_t c = 0; c < C; ++c) image[pix * C + c] = acc[j * C + c] + tr[j] * S.bg[c];
          alpha[pix] = T(1) - tr[j];
        }
      }
  });
}

struct Grads {
  Tensor means, quats, scales, opacities, colors, colors_rest, viewmat, background, means2d, absgrad;
};

template <typename T>
Grads backward_all(const RasterState<T>& S, const Tensor& g_image, const Tensor& g_alpha) {
  int64_t W = S.opt.width, C = S.C, n = S.n;
  int gstride = sc_grad_stride((int)C);
  Tensor gi = g_image.to(dtype_of<T>::value).contiguous();
  Tensor ga = g_alpha.to(dtype_of<T>::value).contiguous();
  const T* v_img = gi.data<T>();
  const T* v_alp = ga.data<T>();
  int64_t n_isects = S.bins.n_isects();
  // 1. per intersection gradients, one tile per task (race free), accumulated in
  //    a tile-local buffer and stored at the intersection's emission index, so
  //    that each Gaussian's intersections end up contiguous for step 2.
  Tensor isect_grad_t = Tensor::empty({std::max<int64_t>(1, n_isects * gstride)}, dtype_of<T>::value);
  T* isect_grad = isect_grad_t.data<T>();
  int64_t n_tiles = S.bins.tiles_x * S.bins.tiles_y;
  std::vector<T> bg_partial(n_tiles * C, T(0));
  {
    SC_STAGE("raster.bwd_tiles");
    for_each_tile_parallel(S, [&](const Tile<T>& t) {
      T tr[SC_MAX_LANES], vout[SC_MAX_LANES * SC_MAX_CHANNELS], valpha[SC_MAX_LANES];
      int last[SC_MAX_LANES];
      std::vector<T> g(t.n * gstride, T(0));
      for (int64_t y = t.y0; y < t.y1; ++y)
        for (int64_t xs = t.x0; xs < t.x1; xs += SC_MAX_LANES) {
          int lanes = (int)std::min<int64_t>(SC_MAX_LANES, t.x1 - xs);
          for (int j = 0; j < lanes; ++j) {
            int64_t pix = y * W + xs + j;
            tr[j] = S.trans[pix];
            last[j] = S.last[pix];
            valpha[j] = v_alp[pix];
            for (int64_t c = 0; c < C; ++c) {
              vout[j * C + c] = v_img[pix * C + c];
              bg_partial[t.id * C + c] += S.trans[pix] * v_img[pix * C + c];
            }
          }
          if (t.n == 0) continue;
          backward_row(T(xs) + T(0.5), T(y) + T(0.5), lanes, (int)C, t.recs.data(), t.row_idx(y), tr,
                       last, vout, valpha, S.bg.data(), g.data());
        }
      const uint32_t* emit = S.bins.sorted_emit.data() + S.bins.tile_start[t.id];
      for (int64_t k = 0; k < t.n; ++k)
        std::memcpy(isect_grad + (int64_t)emit[k] * gstride, g.data() + k * gstride, sizeof(T) * gstride);
    });
  }
  // 2. per Gaussian: sum its intersections (contiguous in emission order)
  SC_STAGE("raster.bwd_gaussians");
  Grads out;
  DType dt = dtype_of<T>::value;
  // Every entry is written below (zeros for culled Gaussians): no memset pass.
  out.means = Tensor::empty({n, 3}, dt);
  out.quats = Tensor::empty({n, 4}, dt);
  out.scales = Tensor::empty({n, 3}, dt);
  out.opacities = Tensor::empty({n}, dt);
  out.colors = Tensor::empty(S.colors.shape(), dt);
  const bool split = S.colors_rest.defined();
  if (split) out.colors_rest = Tensor::empty(S.colors_rest.shape(), dt);
  out.means2d = Tensor::empty({n, 2}, dt);
  out.absgrad = Tensor::empty({n, 2}, dt);
  // sums each Gaussian's intersections, then SH and projection backward (GaussianKernels::backward)
  GaussianArgs<T> a = gaussian_args(S);
  GaussianGradArgs<T> gg;
  gg.isect_grad = isect_grad;
  gg.emit_offset = S.bins.emit_offset.data();
  gg.gstride = gstride;
  gg.means = out.means.data<T>();
  gg.quats = out.quats.data<T>();
  gg.scales = out.scales.data<T>();
  gg.opacities = out.opacities.data<T>();
  gg.colors = out.colors.data<T>();
  gg.colors_rest = split ? out.colors_rest.template data<T>() : nullptr;
  gg.means2d = out.means2d.data<T>();
  gg.absgrad = out.absgrad.data<T>();
  // viewmat gradient: fixed-size blocks, summed in order (same result for any thread count)
  const int64_t block = 1024;
  int64_t nblocks = (n + block - 1) / block;
  std::vector<T> view_partial(nblocks * 16, T(0));
  gg.block = block;
  gg.view_partial = view_partial.data();
  const auto backward = gaussian_kernels_of<T>().backward;
  parallel_for(nblocks, 1, [&](int64_t bb, int64_t be) { backward(a, gg, bb, be); });
  out.viewmat = Tensor::zeros({4, 4}, dt);
  T* vv = out.viewmat.data<T>();
  for (int64_t blk = 0; blk < nblocks; ++blk)
    for (int k = 0; k < 16; ++k) vv[k] += view_partial[blk * 16 + k];
  if (S.background.defined()) {
    const int64_t ncol = a.ncol;
    out.background = Tensor::zeros({ncol}, dt);
    T* vb = out.background.data<T>();
    for (int64_t t = 0; t < n_tiles; ++t)
      for (int64_t c = 0; c < ncol; ++c) vb[c] += bg_partial[t * C + c];
  }
  return out;
}

template <typename T>
RasterizeResult rasterize_impl(const Tensor& means, const Tensor& quats, const Tensor& scales,
                               const Tensor& opacities, const Tensor& colors, const Tensor& colors_rest,
                               const Tensor& viewmat, const Tensor& K, const Tensor& background,
                               const RasterizeOptions& opt, bool raw) {
  auto S = std::make_shared<RasterState<T>>();
  S->opt = opt;
  static_cast<raster::Setup<T>&>(*S) = raster::make_setup<T>(viewmat, K, background, colors, colors_rest, opt);
  S->n = means.shape()[0];
  S->means = means.detach().contiguous();
  S->quats = quats.detach().contiguous();
  S->raw = raw;
  S->keep_tiles = grad_enabled();
  if (raw) {  // activations without autograd nodes: the backward applies their chain rule
    SC_STAGE("raster.activate");
    S->scales = Tensor::empty(scales.shape(), dtype_of<T>::value);
    S->opacities = Tensor::empty(opacities.shape(), dtype_of<T>::value);
    Tensor ls = scales.detach().contiguous(), lo = opacities.detach().contiguous();
    const T* a = ls.template data<T>();
    const T* b = lo.template data<T>();
    T* s = S->scales.template data<T>();
    T* o = S->opacities.template data<T>();
    parallel_for(S->n, 4096, [&](int64_t b0, int64_t e0) {
      for (int64_t i = b0; i < e0; ++i) {
        for (int k = 0; k < 3; ++k) s[3 * i + k] = std::exp(a[3 * i + k]);
        o[i] = T(1) / (T(1) + std::exp(-b[i]));
      }
    });
  } else {
    S->scales = scales.detach().contiguous();
    S->opacities = opacities.detach().contiguous();
  }
  S->colors = colors.detach().contiguous();
  if (colors_rest.defined()) S->colors_rest = colors_rest.detach().contiguous();
  if (background.defined() && S->ncol > 0) S->background = background.detach().contiguous();
  {
    SC_STAGE("raster.project");
    project_all(*S);
  }
  {
    SC_STAGE("raster.features");
    compute_features(*S);
  }
  {
    SC_STAGE("raster.bin");
    S->bins = bin_tiles<T>(S->mean2d.data(), S->conic.data(), S->r2.data(), S->depth.data(),
                           S->radii.data(), S->n, opt.width, opt.height, opt.tile_size);
  }
  DType dt = dtype_of<T>::value;
  int64_t H = opt.height, W = opt.width, n = S->n;
  Tensor image = Tensor::empty({H, W, S->C}, dt);
  Tensor alpha = Tensor::empty({H, W, 1}, dt);
  {
    SC_STAGE("raster.composite");
    composite_all(*S, image.data<T>(), alpha.data<T>());
  }

  RasterizeResult res;
  res.n_isects = S->bins.n_isects();
  res.radii = Tensor::empty({n, 2}, DType::Int32);
  std::copy(S->radii.begin(), S->radii.end(), res.radii.data<int32_t>());
  res.depths = Tensor::empty({n}, dt);
  std::copy(S->depth.begin(), S->depth.end(), res.depths.data<T>());
  res.means2d = Tensor::empty({n, 2}, dt);  // projected 2D means; .grad = dL/d(2D mean)
  std::copy(S->mean2d.begin(), S->mean2d.end(), res.means2d.data<T>());
  res.means2d_absgrad = Tensor::zeros({n, 2}, dt);
  if (grad_enabled()) {
    res.means2d.set_requires_grad(true);
    res.means2d_absgrad.set_requires_grad(true);
  }
  std::vector<Tensor> outs{image, alpha};
  record_op("rasterize",
            {means, quats, scales, opacities, colors, colors_rest, viewmat, background, res.means2d,
             res.means2d_absgrad},
            outs, [S](const std::vector<Tensor>& g) -> std::vector<Tensor> {
              SC_STAGE("raster.total_backward");
              Grads v = backward_all(*S, g[0], g[1]);
              return {v.means, v.quats, v.scales, v.opacities, v.colors, v.colors_rest, v.viewmat,
                      v.background, v.means2d, v.absgrad};
            });
  image = outs[0];
  alpha = outs[1];
  res.image = raster::with_expected_depth(image, alpha, S->C, opt.mode);
  res.alpha = alpha;
  return res;
}

// The shared tail of rasterize / rasterize_params: camera checks, then the
// float or double pipeline.
RasterizeResult run_rasterize(const Tensor& means, const Tensor& quats, const Tensor& scales,
                              const Tensor& opacities, const Tensor& colors, const Tensor& colors_rest,
                              const Tensor& viewmat, const Tensor& K, const Tensor& background,
                              const RasterizeOptions& opt, bool raw) {
  SC_STAGE("raster.total_forward");
  check_finite(viewmat, "viewmat");
  check_finite(K, "K");
  check_finite(background, "background");
  check_devices(means, {{&quats, "quats"}, {&scales, "scales"}, {&opacities, "opacities"},
                        {&colors, colors_rest.defined() ? "sh0" : "colors_or_sh"}, {&colors_rest, "shN"}},
                {{&viewmat, "viewmat"}, {&K, "K"}, {&background, "background"}});
  if (means.device().is_gpu())
    return raster::rasterize_gpu(means, quats, scales, opacities, colors, colors_rest, viewmat, K, background,
                                 opt, raw);
  if (means.dtype() == DType::Float32)
    return rasterize_impl<float>(means, quats, scales, opacities, colors, colors_rest, viewmat, K,
                                 background, opt, raw);
  return rasterize_impl<double>(means, quats, scales, opacities, colors, colors_rest, viewmat, K,
                                background, opt, raw);
}

}  // namespace

RasterizeResult rasterize(const Tensor& means, const Tensor& quats, const Tensor& scales,
                          const Tensor& opacities, const Tensor& colors, const Tensor& viewmat,
                          const Tensor& K, const Tensor& background, const RasterizeOptions& opt) {
  const std::pair<const Tensor*, const char*> args[] = {
      {&quats, "quats"}, {&scales, "scales"}, {&opacities, "opacities"}, {&colors, "colors"},
      {&viewmat, "viewmat"}, {&K, "K"}, {&background, "background"}};
  check_dtypes(means, args);
  check_options(opt);
  check_shape(means, {-1, 3}, "means");
  int64_t n = means.shape()[0];
  check_shape(quats, {n, 4}, "quats");
  check_shape(scales, {n, 3}, "scales");
  check_shape(opacities, {n}, "opacities");
  check_shape(viewmat, {4, 4}, "viewmat");
  check_shape(K, {3, 3}, "K");
  int64_t ncol = 0;
  if (opt.sh_degree) {
    int64_t d = *opt.sh_degree;
    if (d < 0 || d > 3) throw ValueError("rasterize: sh_degree must be 0..3, got " + std::to_string(d));
    check_shape(colors, {n, -1, 3}, "colors_or_sh (SH coefficients)");
    if (colors.shape()[1] < (d + 1) * (d + 1))
      throw ValueError("rasterize: colors_or_sh must have shape (N, K, 3) with K >= " +
                       std::to_string((d + 1) * (d + 1)) + " for sh_degree " + std::to_string(d) +
                       ", got " + shape_str(colors.shape()));
    ncol = 3;
  } else {
    check_shape(colors, {n, -1}, "colors_or_sh (colours)");
    ncol = colors.shape()[1];
  }
  int64_t C = (has_color(opt.mode) ? ncol : 0) + (has_depth(opt.mode) ? 1 : 0);
  if (C < 1 || C > kMaxChannels)
    throw ValueError("rasterize: between 1 and " + std::to_string(kMaxChannels) +
                     " output channels are supported, got " + std::to_string(C));
  // background: one value per colour channel; ignored for pure depth modes.
  int64_t ncolor_out = has_color(opt.mode) ? ncol : 0;
  if (background.defined() && ncolor_out > 0) check_shape(background, {ncolor_out}, "background");
  return run_rasterize(means, quats, scales, opacities, colors, Tensor(), viewmat, K, background, opt,
                       false);
}

RasterizeResult rasterize_params(const Tensor& means, const Tensor& quats, const Tensor& log_scales,
                                 const Tensor& logit_opacities, const Tensor& sh0, const Tensor& shN,
                                 const Tensor& viewmat, const Tensor& K, const Tensor& background,
                                 const RasterizeOptions& opt) {
  const std::pair<const Tensor*, const char*> args[] = {
      {&quats, "quats"}, {&log_scales, "scales"}, {&logit_opacities, "opacities"}, {&sh0, "sh0"},
      {&shN, "shN"}, {&viewmat, "viewmat"}, {&K, "K"}, {&background, "background"}};
  check_dtypes(means, args);
  if (!opt.sh_degree || opt.mode != RenderMode::RGB)
    throw ValueError("rasterize: the parameter form renders RGB from SH coefficients (sh_degree required)");
  check_shape(means, {-1, 3}, "means");
  int64_t n = means.shape()[0];
  check_shape(quats, {n, 4}, "quats");
  check_shape(log_scales, {n, 3}, "scales");
  check_shape(logit_opacities, {n}, "opacities");
  check_shape(sh0, {n, 1, 3}, "sh0");
  check_shape(shN, {n, -1, 3}, "shN");
  int64_t d = *opt.sh_degree;
  if (d < 0 || d > 3) throw ValueError("rasterize: sh_degree must be 0..3, got " + std::to_string(d));
  if (1 + shN.shape()[1] < (d + 1) * (d + 1))
    throw ValueError("rasterize: shN must have shape (N, K-1, 3) with K >= " + std::to_string((d + 1) * (d + 1)) +
                     " for sh_degree " + std::to_string(d) + ", got " + shape_str(shN.shape()));
  check_shape(viewmat, {4, 4}, "viewmat");
  check_shape(K, {3, 3}, "K");
  if (background.defined()) check_shape(background, {3}, "background");
  check_options(opt);
  return run_rasterize(means, quats, log_scales, logit_opacities, sh0, shN, viewmat, K, background, opt,
                       true);
}

ProjectionResult project_gaussians(const Tensor& means, const Tensor& quats, const Tensor& scales,
                                   const Tensor& opacities, const Tensor& viewmat, const Tensor& K,
                                   const RasterizeOptions& opt) {
  int64_t n = means.ndim() == 2 ? means.shape()[0] : 0;
  Tensor colors = Tensor::zeros({n, 3}, means.dtype());
  RasterizeOptions o = opt;
  o.sh_degree.reset();
  o.mode = RenderMode::RGB;
  NoGradGuard no_grad;
  ProjectionResult r;
  auto run = [&](auto tag) {
    using T = decltype(tag);
    RasterState<T> S;
    S.opt = o;
    static_cast<raster::Setup<T>&>(S) = raster::make_setup<T>(viewmat, K, Tensor(), colors, Tensor(), o);
    S.n = n;
    S.means = means.detach().contiguous();
    S.quats = quats.detach().contiguous();
    S.scales = scales.detach().contiguous();
    S.opacities = opacities.detach().contiguous();
    project_all(S);
    DType dt = dtype_of<T>::value;
    r.means2d = Tensor::empty({n, 2}, dt);
    r.conics = Tensor::empty({n, 3}, dt);
    r.depths = Tensor::empty({n}, dt);
    r.compensations = Tensor::empty({n}, dt);
    r.radii = Tensor::empty({n, 2}, DType::Int32);
    std::copy(S.mean2d.begin(), S.mean2d.end(), r.means2d.data<T>());
    std::copy(S.conic.begin(), S.conic.end(), r.conics.data<T>());
    std::copy(S.depth.begin(), S.depth.end(), r.depths.data<T>());
    std::copy(S.radii.begin(), S.radii.end(), r.radii.data<int32_t>());
    const T* op = S.opacities.template data<T>();
    T* comp = r.compensations.data<T>();
    for (int64_t i = 0; i < n; ++i)  // opac_eff = opacity * compensation when antialiased
      comp[i] = o.antialiased ? (op[i] != T(0) ? S.opac_eff[i] / op[i] : T(0)) : T(1);
  };
  // validate through the rasterizer's checks (cheap: zero colours, RGB)
  rasterize(means.detach(), quats.detach(), scales.detach(), opacities.detach(), colors, viewmat.detach(),
            K.detach(), Tensor(), o);
  if (means.dtype() == DType::Float32) run(float{});
  else run(double{});
  return r;
}

Tensor sh_colors(int64_t degree, const Tensor& dirs, const Tensor& coeffs) {
  if (degree < 0 || degree > 3) throw ValueError("sh_colors: degree must be 0..3, got " + std::to_string(degree));
  check_shape(dirs, {-1, 3}, "dirs");
  int64_t n = dirs.shape()[0];
  check_shape(coeffs, {n, -1, 3}, "coeffs");
  if (coeffs.shape()[1] < (degree + 1) * (degree + 1))
    throw ValueError("sh_colors: degree " + std::to_string(degree) + " needs " +
                     std::to_string((degree + 1) * (degree + 1)) + " coefficients, got " +
                     std::to_string(coeffs.shape()[1]));
  if (dirs.dtype() != coeffs.dtype() || !(dirs.dtype() == DType::Float32 || dirs.dtype() == DType::Float64))
    throw TypeError("sh_colors: dirs and coeffs must both be float32 or both float64");
  Tensor out = Tensor::empty({n, 3}, dirs.dtype());
  Tensor d = dirs.detach().contiguous(), c = coeffs.detach().contiguous();
  int64_t K = coeffs.shape()[1];
  SC_DISPATCH_FLOAT(dirs.dtype(), "sh_colors", {
    using T = scalar_t;
    const T* dp = d.data<T>();
    const T* cp = c.data<T>();
    T* o = out.data<T>();
    parallel_for(n, 4096, [&](int64_t b, int64_t e) {
      for (int64_t i = b; i < e; ++i)
        sc_sh_color((int)degree, dp[3 * i], dp[3 * i + 1], dp[3 * i + 2], T(0), T(0), T(0),
                    cp + i * K * 3, o + 3 * i);
    });
  });
  return out;
}

}  // namespace sc
