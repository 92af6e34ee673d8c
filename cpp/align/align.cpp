// Global alignment, CPU backend: packing, the fused loss/gradient pass, and the
// O(pixels) helpers of the initialisation and the dense output (align.h).
//
// The fused pass. Work items are blocks of sampled rows of one image (about
// kItemPixels pixels), so every depth gradient is written by exactly one item
// and no atomics are needed. Per item:
//   1. camera points c and world points X of its pixels (kernels/align.h);
//   2. for each (edge, view) in which the image takes part, one streaming pass
//      over that view's packed (y, w) values: the loss term, dL/dX added into a
//      per-pixel buffer gX, and the edge's sufficient statistics
//      G = sum g, M = sum g y^T (float64), from which all the edge-parameter
//      gradients follow (dL/dA = -M, dL/db = -G for Z = A y + b);
//   3. back through X = R c + T: the log-depth gradient of each pixel and the
//      image's sums of gX, gX c^T and dL/df.
// Each item writes its sums into its own slot; a serial reduction in item order
// then makes the result independent of the number of threads.
#include "align/align.h"

#include "gpu/kernels/align_args.h"
#include "gpu/ops/align.h"
#include "ops/ops.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>
#include <type_traits>

#include "autograd/function.h"
#include "autograd/grad_mode.h"
#include "core/thread_pool.h"
#include "kernels/align.h"

namespace sc {
namespace {

constexpr int kIncAcc = 16;   // per (image, edge view): G (3), M (9), loss, sum w, sum |r|, count
constexpr int kImgAcc = 13;   // per image: sum gX (3), sum gX c^T (9), dL/df
constexpr int64_t kItemPixels = 2048;
constexpr int kLanes = 16;  // pixels per vector block of the fused pass
constexpr double kQuatEps = 1e-12;

std::string edge_name(int64_t e, int64_t i, int64_t j) {
  return "pair " + std::to_string(e) + " (" + std::to_string(i) + ", " + std::to_string(j) + ")";
}

Tensor as_dtype(const Tensor& t, DType dt) {
  if (!is_floating(t.dtype()) || is_half(t.dtype()))
    throw TypeError("expected a float32 or float64 array, got " + std::string(dtype_name(t.dtype())));
  return t.to(dt).contiguous();
}

template <typename T>
bool finite3(T a, T b, T c) {
  return std::isfinite(a) && std::isfinite(b) && std::isfinite(c);
}

// The vectorised part of one (image block, edge view) pass: whole blocks of kLanes
// pixels, per-lane float sums folded into `sum` (G 3, M 9, loss) at the end.
// A separate function so that __restrict on its parameters tells the compiler the
// buffers do not overlap. Returns the number of pixels done.
template <typename T, bool kGrad>
__attribute__((noinline)) int64_t fused_block(
    int64_t npx, const T* __restrict X0, const T* __restrict X1, const T* __restrict X2,
    const T* __restrict Y0, const T* __restrict Y1, const T* __restrict Y2,
    const T* __restrict Wt, T* __restrict gX0, T* __restrict gX1, T* __restrict gX2,
    const T* __restrict Ain, const T* __restrict bin, T scale, T eps, double* sum) {
  T A[9], b[3];
  for (int a = 0; a < 9; ++a) A[a] = Ain[a];
  for (int a = 0; a < 3; ++a) b[a] = bin[a];
  T lane[13][kLanes];
  for (int a = 0; a < 13; ++a)
    for (int l = 0; l < kLanes; ++l) lane[a][l] = T(0);
  int64_t p = 0;
  for (; p + kLanes <= npx; p += kLanes) {
    for (int l = 0; l < kLanes; ++l) {
      const int64_t i = p + l;
      const T y0 = Y0[i], y1 = Y1[i], y2 = Y2[i];
      T g[3];
      lane[12][l] += sc_align_residual<T>(X0[i], X1[i], X2[i], y0, y1, y2, Wt[i], A, b, eps, g);
      if (kGrad) {
        gX0[i] += scale * g[0];
        gX1[i] += scale * g[1];
        gX2[i] += scale * g[2];
        lane[0][l] += g[0], lane[1][l] += g[1], lane[2][l] += g[2];
        lane[3][l] += g[0] * y0, lane[4][l] += g[0] * y1, lane[5][l] += g[0] * y2;
        lane[6][l] += g[1] * y0, lane[7][l] += g[1] * y1, lane[8][l] += g[1] * y2;
        lane[9][l] += g[2] * y0, lane[10][l] += g[2] * y1, lane[11][l] += g[2] * y2;
      }
    }
  }
  for (int a = 0; a < 13; ++a)
    for (int l = 0; l < kLanes; ++l) sum[a] += (double)lane[a][l];
  return p;
}

}  // namespace

int align_conf_mode(const std::string& name) {
  if (name == "log") return 0;
  if (name == "sqrt") return 1;
  if (name == "m1") return 2;
  if (name == "id" || name == "none") return 3;
  throw ValueError("conf_mode: expected 'log', 'sqrt', 'm1' or 'id', got '" + name + "'");
}

// ---- construction -------------------------------------------------------------

AlignProblem::AlignProblem(DType dtype, std::vector<AlignImageSpec> images,
                           std::vector<std::pair<int64_t, int64_t>> edges,
                           const std::vector<Tensor>& pts1, const std::vector<Tensor>& conf1,
                           const std::vector<Tensor>& pts2, const std::vector<Tensor>& conf2,
                           AlignOptions opt)
    : dtype_(dtype), opt_(opt), images_(std::move(images)), edges_(std::move(edges)) {
  if (dtype_ != DType::Float32 && dtype_ != DType::Float64)
    throw TypeError("dtype: expected float32 or float64, got " + std::string(dtype_name(dtype_)));
  if (opt_.stride < 1)
    throw ValueError("stride: expected an integer >= 1, got " + std::to_string(opt_.stride));
  if (!(opt_.base_scale > 0.0) || !std::isfinite(opt_.base_scale))
    throw ValueError("base_scale: expected a finite value > 0, got " + std::to_string(opt_.base_scale));
  if (!(opt_.focal_break > 0.0) || !std::isfinite(opt_.focal_break))
    throw ValueError("focal_break: expected a finite value > 0, got " +
                     std::to_string(opt_.focal_break));
  const int64_t n = (int64_t)images_.size(), E = (int64_t)edges_.size();
  if (n < 1) throw ValueError("image_shapes: expected at least one image, got none");
  if (E < 1) throw ValueError("pairs: expected at least one pair, got none");
  if ((int64_t)pts1.size() != E || (int64_t)conf1.size() != E || (int64_t)pts2.size() != E ||
      (int64_t)conf2.size() != E)
    throw ValueError("pair outputs: expected " + std::to_string(E) +
                     " (pts3d, conf) per view, one per pair; got " + std::to_string(pts1.size()) +
                     ", " + std::to_string(conf1.size()) + ", " + std::to_string(pts2.size()) +
                     ", " + std::to_string(conf2.size()));
  const int64_t s = opt_.stride, off = sample_offset();
  gh_.resize(n), gw_.resize(n), px_off_.resize(n);
  for (int64_t k = 0; k < n; ++k) {
    const AlignImageSpec& im = images_[k];
    if (im.H < 1 || im.W < 1)
      throw ValueError("image_shapes[" + std::to_string(k) + "]: expected (H, W) >= 1, got (" +
                       std::to_string(im.H) + ", " + std::to_string(im.W) + ")");
    if (!(im.fmin > 0.0) || !(im.fmax >= im.fmin) || !std::isfinite(im.fmax))
      throw ValueError("focal range of image " + std::to_string(k) + ": expected 0 < fmin <= fmax");
    if (im.H <= off || im.W <= off)
      throw ValueError("stride " + std::to_string(s) + " is too large for image " +
                       std::to_string(k) + " of " + std::to_string(im.H) + "x" + std::to_string(im.W));
    gh_[k] = (im.H - 1 - off) / s + 1;
    gw_[k] = (im.W - 1 - off) / s + 1;
    px_off_[k] = n_pixels_;
    n_pixels_ += gh_[k] * gw_[k];
  }
  inc_.assign(n, {});
  int64_t data_size = 0;
  for (int64_t e = 0; e < E; ++e) {
    const int64_t i = edges_[e].first, j = edges_[e].second;
    if (i < 0 || i >= n || j < 0 || j >= n)
      throw ValueError(edge_name(e, i, j) + ": image index out of range for " + std::to_string(n) +
                       " images");
    if (i == j) throw ValueError(edge_name(e, i, j) + ": a pair needs two different images");
    auto check = [&](const Tensor& p, const Tensor& c, int64_t k, const char* view) {
      const Shape want3{images_[k].H, images_[k].W, 3}, want2{images_[k].H, images_[k].W};
      if (!p.defined() || p.shape() != want3)
        throw ValueError(edge_name(e, i, j) + ": " + view + " pts3d: expected shape " +
                         shape_str(want3) + " (image " + std::to_string(k) + "), got " +
                         (p.defined() ? shape_str(p.shape()) : std::string("None")));
      if (!c.defined() || c.shape() != want2)
        throw ValueError(edge_name(e, i, j) + ": " + view + " conf: expected shape " +
                         shape_str(want2) + " (image " + std::to_string(k) + "), got " +
                         (c.defined() ? shape_str(c.shape()) : std::string("None")));
    };
    check(pts1[e], conf1[e], i, "view1");
    check(pts2[e], conf2[e], j, "view2");
    area1_ += (double)(gh_[i] * gw_[i]);
    area2_ += (double)(gh_[j] * gw_[j]);
    inc_[i].push_back({e, 0, data_size});
    data_size += 4 * gh_[i] * gw_[i];
    inc_[j].push_back({e, 1, data_size});
    data_size += 4 * gh_[j] * gw_[j];
  }
  // Work items: blocks of rows of each image.
  for (int64_t k = 0; k < n; ++k) {
    const int64_t rows = std::max<int64_t>(1, kItemPixels / gw_[k]);
    for (int64_t r = 0; r < gh_[k]; r += rows) {
      items_.push_back({k, r, std::min(gh_[k], r + rows), acc_size_});
      acc_size_ += 1 + kImgAcc + kIncAcc * (int64_t)inc_[k].size();
    }
  }
  if (dtype_ == DType::Float32) {
    data_f_.resize(data_size);
    pack<float>(pts1, conf1, pts2, conf2);
  } else {
    data_d_.resize(data_size);
    pack<double>(pts1, conf1, pts2, conf2);
  }
}

template <typename T>
void AlignProblem::pack(const std::vector<Tensor>& pts1, const std::vector<Tensor>& conf1,
                        const std::vector<Tensor>& pts2, const std::vector<Tensor>& conf2) {
  const int64_t E = n_edges(), s = opt_.stride, off = sample_offset();
  const DType dt = dtype_of<T>::value;
  // Where each (edge, view) goes, and its inputs in the problem's dtype.
  std::vector<int64_t> where(2 * E, 0);
  for (int64_t k = 0; k < n_images(); ++k)
    for (const Inc& q : inc_[k]) where[2 * q.edge + q.slot] = q.data_off;
  std::vector<Tensor> P(2 * E), C(2 * E);
  for (int64_t e = 0; e < E; ++e) {
    try {
      P[2 * e] = as_dtype(pts1[e], dt), C[2 * e] = as_dtype(conf1[e], dt);
      P[2 * e + 1] = as_dtype(pts2[e], dt), C[2 * e + 1] = as_dtype(conf2[e], dt);
    } catch (const TypeError& err) {
      throw TypeError(edge_name(e, edges_[e].first, edges_[e].second) + ": " + err.what());
    }
  }
  T* data = dtype_ == DType::Float32 ? (T*)(void*)data_f_.data() : (T*)(void*)data_d_.data();
  const int mode = opt_.conf_mode;
  parallel_for(2 * E, 1, [&](int64_t b0, int64_t b1) {
    for (int64_t b = b0; b < b1; ++b) {
      const int64_t e = b / 2;
      const int64_t k = (b % 2) ? edges_[e].second : edges_[e].first;
      const int64_t W = images_[k].W;
      const T* p = P[b].data<T>();
      const T* c = C[b].data<T>();
      // four planes (y0, y1, y2, w) of gh x gw values each
      const int64_t plane = gh_[k] * gw_[k];
      T* out = data + where[b];
      for (int64_t a = 0, q = 0; a < gh_[k]; ++a) {
        const int64_t v = off + s * a;
        for (int64_t col = 0; col < gw_[k]; ++col, ++q) {
          const int64_t u = off + s * col, src = v * W + u;
          T y0 = p[3 * src], y1 = p[3 * src + 1], y2 = p[3 * src + 2];
          T w = sc_align_conf_weight<T>(c[src], mode);
          if (!finite3(y0, y1, y2)) y0 = y1 = y2 = w = T(0);
          out[q] = y0, out[plane + q] = y1, out[2 * plane + q] = y2, out[3 * plane + q] = w;
        }
      }
    }
  });
}

// ---- the fused pass ---------------------------------------------------------------

void AlignProblem::check_params(const Tensor* p) const {
  static const char* names[7] = {"log_depth", "quat", "trans", "log_focal",
                                 "pw_quat", "pw_trans", "pw_log_scale"};
  const int64_t n = n_images(), E = n_edges();
  const Shape want[7] = {{n_pixels_}, {n, 4}, {n, 3}, {n}, {E, 4}, {E, 3}, {E}};
  for (int a = 0; a < 7; ++a) {
    if (!p[a].defined()) throw ValueError(std::string(names[a]) + ": a Tensor is required");
    if (p[a].dtype() != dtype_)
      throw TypeError(std::string(names[a]) + ": expected " + dtype_name(dtype_) +
                      " (the problem's dtype), got " + dtype_name(p[a].dtype()));
    if (p[a].shape() != want[a])
      throw ValueError(std::string(names[a]) + ": expected shape " + shape_str(want[a]) + ", got " +
                       shape_str(p[a].shape()));
    if (!p[a].is_contiguous())
      throw ValueError(std::string(names[a]) + ": expected a contiguous Tensor");
    if (p[a].device() != p[0].device())
      throw ValueError(std::string(names[a]) + ": expected a Tensor on " + p[0].device().str() +
                       " (the device of log_depth), got one on " + p[a].device().str());
  }
}

// ---- on a GPU device --------------------------------------------------------------

std::shared_ptr<const gpu::AlignTables> AlignProblem::device_tables(Device d) const {
  std::lock_guard<std::mutex> lock(device_mu_);
  auto found = device_tables_.find(d.str());
  if (found != device_tables_.end()) return found->second;
  auto t = std::make_shared<gpu::AlignTables>();
  const int64_t n = n_images(), E = n_edges();
  t->n = n, t->E = E;
  const int64_t data_size = dtype_ == DType::Float32 ? (int64_t)data_f_.size() : (int64_t)data_d_.size();
  Tensor data = Tensor::empty({std::max<int64_t>(data_size, 1)}, dtype_);
  Tensor image_f = Tensor::empty({n, 4}, dtype_);
  if (dtype_ == DType::Float32) {
    std::copy(data_f_.begin(), data_f_.end(), data.data<float>());
    for (int64_t k = 0; k < n; ++k) {
      const AlignImageSpec& im = images_[k];
      const float v[4] = {(float)im.cx, (float)im.cy, (float)im.fmin, (float)im.fmax};
      std::copy(v, v + 4, image_f.data<float>() + 4 * k);
    }
  } else {
    std::copy(data_d_.begin(), data_d_.end(), data.data<double>());
    for (int64_t k = 0; k < n; ++k) {
      const AlignImageSpec& im = images_[k];
      const double v[4] = {im.cx, im.cy, im.fmin, im.fmax};
      std::copy(v, v + 4, image_f.data<double>() + 4 * k);
    }
  }
  int64_t n_inc = 0, n_items = 0;
  for (int64_t k = 0; k < n; ++k) {
    n_inc += (int64_t)inc_[k].size();
    n_items += (gh_[k] * gw_[k] + SC_ALIGN_GROUP - 1) / SC_ALIGN_GROUP;
  }
  Tensor image_i = Tensor::empty({n, 7}, DType::Int64), inc = Tensor::empty({std::max<int64_t>(n_inc, 1), 3}, DType::Int64);
  Tensor item = Tensor::empty({n_items, 4}, DType::Int64), edge_inc = Tensor::empty({E, 4}, DType::Int64);
  int64_t *ii = image_i.data<int64_t>(), *in = inc.data<int64_t>(), *it = item.data<int64_t>(),
          *ei = edge_inc.data<int64_t>();
  int64_t inc0 = 0, item0 = 0, poff = 0;
  for (int64_t k = 0; k < n; ++k) {
    const int64_t ninc = (int64_t)inc_[k].size(), count = gh_[k] * gw_[k];
    const int64_t nit = (count + SC_ALIGN_GROUP - 1) / SC_ALIGN_GROUP;
    const int64_t row[7] = {gw_[k], gh_[k], px_off_[k], inc0, ninc, item0, nit};
    std::copy(row, row + 7, ii + 7 * k);
    for (int64_t q = 0; q < ninc; ++q) {
      const Inc& c = inc_[k][q];
      in[3 * (inc0 + q)] = c.data_off, in[3 * (inc0 + q) + 1] = c.edge, in[3 * (inc0 + q) + 2] = c.slot;
      ei[4 * c.edge + 2 * c.slot] = k, ei[4 * c.edge + 2 * c.slot + 1] = q;
    }
    for (int64_t b = 0; b < nit; ++b) {
      const int64_t p0 = b * SC_ALIGN_GROUP;
      const int64_t r[4] = {k, p0, std::min<int64_t>(SC_ALIGN_GROUP, count - p0), poff};
      std::copy(r, r + 4, it + 4 * (item0 + b));
      poff += 1 + SC_ALIGN_IMG_ACC + SC_ALIGN_INC_ACC * ninc;
    }
    inc0 += ninc;
    item0 += nit;
  }
  t->items = n_items;
  t->partials = poff;
  t->data = data.to_device(d);
  t->image_f = image_f.to_device(d);
  t->image_i = image_i.to_device(d);
  t->inc = inc.to_device(d);
  t->item = item.to_device(d);
  t->edge_inc = edge_inc.to_device(d);
  device_tables_[d.str()] = t;
  return t;
}

Tensor AlignProblem::loss_on_device(const Tensor* p, bool need_grad, std::vector<Tensor>* grads) const {
  std::shared_ptr<const gpu::AlignTables> t = device_tables(p[0].device());
  gpu::AlignScalars s;
  s.stride = (int)opt_.stride;
  s.offset = (int)sample_offset();
  s.inv_area1 = 1.0 / area1_;
  s.inv_area2 = 1.0 / area2_;
  s.base_scale = opt_.base_scale;
  s.focal_break = opt_.focal_break;
  s.eps = 1e-12;
  s.quat_eps = kQuatEps;
  Tensor d[7];
  for (int a = 0; a < 7; ++a) d[a] = p[a].detach();
  return gpu::align_loss(*t, d, s, need_grad ? grads : nullptr).reshape({});
}

template <typename T>
double AlignProblem::run(const Tensor* p, bool need_grad, std::vector<Tensor>* grads,
                         double* stats) const {
  const int64_t n = n_images(), E = n_edges();
  const T* ld = p[0].data<T>();
  const T* q = p[1].data<T>();
  const T* tr = p[2].data<T>();
  const T* lf = p[3].data<T>();
  const T* pq = p[4].data<T>();
  const T* pt = p[5].data<T>();
  const T* ps = p[6].data<T>();
  const double fb = opt_.focal_break;

  // Cameras and edge similarities.
  std::vector<T> Rim(9 * n), Tim(3 * n), fim(n), invf(n);
  std::vector<char> fclamp(n, 0);
  for (int64_t k = 0; k < n; ++k) {
    sc_align_quat_to_rotmat<T>(q[4 * k], q[4 * k + 1], q[4 * k + 2], q[4 * k + 3], T(kQuatEps),
                               &Rim[9 * k]);
    for (int a = 0; a < 3; ++a) Tim[3 * k + a] = sc_align_signed_expm1<T>(tr[3 * k + a]);
    double f = std::exp((double)lf[k] / fb);
    if (!(f >= images_[k].fmin)) f = images_[k].fmin, fclamp[k] = 1;  // NaN lands here too
    if (f > images_[k].fmax) f = images_[k].fmax, fclamp[k] = 1;
    fim[k] = (T)f;
    invf[k] = (T)(1.0 / f);
  }
  double mean_ls = 0.0;
  for (int64_t e = 0; e < E; ++e) mean_ls += (double)ps[e];
  mean_ls /= (double)E;
  std::vector<double> Re(9 * E), se(E), te(3 * E);
  std::vector<T> Ae(9 * E), be(3 * E);
  for (int64_t e = 0; e < E; ++e) {
    sc_align_quat_to_rotmat<double>(pq[4 * e], pq[4 * e + 1], pq[4 * e + 2], pq[4 * e + 3],
                                    kQuatEps, &Re[9 * e]);
    double sv = opt_.base_scale * std::exp((double)ps[e] - mean_ls);
    if (!std::isfinite(sv)) sv = std::numeric_limits<double>::max() * 1e-10;
    se[e] = sv;
    for (int a = 0; a < 3; ++a) te[3 * e + a] = sc_align_signed_expm1<double>((double)pt[3 * e + a]);
    for (int a = 0; a < 9; ++a) Ae[9 * e + a] = (T)(sv * Re[9 * e + a]);
    for (int a = 0; a < 3; ++a) be[3 * e + a] = (T)(sv * te[3 * e + a]);
  }

  std::vector<double> acc(acc_size_, 0.0);
  T* gld = nullptr;
  Tensor g_ld;
  if (need_grad) {
    g_ld = Tensor::zeros({n_pixels_}, dtype_);
    gld = g_ld.data<T>();
  }
  const T* data = dtype_ == DType::Float32 ? (const T*)(const void*)data_f_.data()
                                           : (const T*)(const void*)data_d_.data();
  const T inv_area[2] = {(T)(1.0 / area1_), (T)(1.0 / area2_)};
  const int64_t s = opt_.stride, off = sample_offset();
  const T eps = T(1e-12);

  auto body = [&](auto grad_tag, auto stats_tag) {
    constexpr bool kGrad = decltype(grad_tag)::value;
    constexpr bool kStats = decltype(stats_tag)::value;
    parallel_for((int64_t)items_.size(), 1, [&](int64_t i0, int64_t i1) {
      thread_local std::vector<T> buf;
      for (int64_t it = i0; it < i1; ++it) {
        const Item& item = items_[it];
        const int64_t k = item.image, w = gw_[k];
        const int64_t npx = (item.row1 - item.row0) * w;
        if ((int64_t)buf.size() < 9 * npx) buf.resize(9 * npx);
        const int64_t plane = gh_[k] * w;  // stride between the planes of a view
        T* __restrict c0 = buf.data();
        T* __restrict c1 = c0 + npx;
        T* __restrict c2 = c1 + npx;
        T* __restrict X0 = c2 + npx;
        T* __restrict X1 = X0 + npx;
        T* __restrict X2 = X1 + npx;
        T* __restrict gX0 = X2 + npx;
        T* __restrict gX1 = gX0 + npx;
        T* __restrict gX2 = gX1 + npx;
        T R[9], Tw[3];
        for (int a = 0; a < 9; ++a) R[a] = Rim[9 * k + a];
        for (int a = 0; a < 3; ++a) Tw[a] = Tim[3 * k + a];
        const T cx = (T)images_[k].cx, cy = (T)images_[k].cy, inv_f = invf[k];
        const T* ldk = ld + px_off_[k] + item.row0 * w;
        for (int64_t a = item.row0, p = 0; a < item.row1; ++a) {
          const T v = (T)(off + s * a);
          for (int64_t col = 0; col < w; ++col, ++p) {
            T c[3], X[3];
            sc_align_cam_point<T>((T)(off + s * col), v, cx, cy, inv_f, ldk[p], c);
            sc_align_to_world<T>(R, Tw, c, X);
            c0[p] = c[0], c1[p] = c[1], c2[p] = c[2];
            X0[p] = X[0], X1[p] = X[1], X2[p] = X[2];
          }
        }
        if (kGrad) std::fill(gX0, gX0 + 3 * npx, T(0));
        double* out = acc.data() + item.acc_off;
        const std::vector<Inc>& incs = inc_[k];
        for (size_t qi = 0; qi < incs.size(); ++qi) {
          const Inc& in = incs[qi];
          const T* __restrict Y0 = data + in.data_off + item.row0 * w;
          const T* __restrict Y1 = Y0 + plane;
          const T* __restrict Y2 = Y1 + plane;
          const T* __restrict Wt = Y2 + plane;
          T A[9], b[3];
          for (int a = 0; a < 9; ++a) A[a] = Ae[9 * in.edge + a];
          for (int a = 0; a < 3; ++a) b[a] = be[3 * in.edge + a];
          const T scale = inv_area[in.slot];
          // sums: G (3), M (9, row-major g y^T), loss; lanes of kLanes pixels vectorise
          double sum[13] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0};
          double sw = 0, sr = 0, cnt = 0;
          int64_t p = 0;
          if (!kStats)
            p = fused_block<T, kGrad>(npx, X0, X1, X2, Y0, Y1, Y2, Wt, gX0, gX1, gX2, A, b, scale,
                                      eps, sum);
          for (; p < npx; ++p) {  // the rest (everything in the statistics pass)
            const T y0 = Y0[p], y1 = Y1[p], y2 = Y2[p], wt = Wt[p];
            T g[3];
            const T lt = sc_align_residual<T>(X0[p], X1[p], X2[p], y0, y1, y2, wt, A, b, eps, g);
            sum[12] += (double)lt;
            if (kGrad) {
              gX0[p] += scale * g[0];
              gX1[p] += scale * g[1];
              gX2[p] += scale * g[2];
              const T gy[12] = {g[0], g[1], g[2], g[0] * y0, g[0] * y1, g[0] * y2,
                                g[1] * y0, g[1] * y1, g[1] * y2, g[2] * y0, g[2] * y1, g[2] * y2};
              for (int a = 0; a < 12; ++a) sum[a] += (double)gy[a];
            }
            if (kStats && wt > T(0)) {
              sw += (double)wt;
              sr += (double)lt / (double)wt;
              cnt += 1.0;
            }
          }
          out[0] += sum[12] * (double)scale;
          double* o = out + 1 + kImgAcc + kIncAcc * qi;
          if (kGrad)
            for (int a = 0; a < 12; ++a) o[a] = sum[a] * (double)scale;
          if (kStats) o[12] = sum[12], o[13] = sw, o[14] = sr, o[15] = cnt;
        }
        if (kGrad) {
          double S[kImgAcc] = {0};
          T* gk = gld + px_off_[k] + item.row0 * w;
          for (int64_t p = 0; p < npx; ++p) {
            T df;
            const T g[3] = {gX0[p], gX1[p], gX2[p]};
            const T c[3] = {c0[p], c1[p], c2[p]};
            gk[p] = sc_align_pixel_backward<T>(g, R, c, inv_f, &df);
            const double g0 = g[0], g1 = g[1], g2 = g[2];
            const double e0 = c[0], e1 = c[1], e2 = c[2];
            S[0] += g0, S[1] += g1, S[2] += g2;
            S[3] += g0 * e0, S[4] += g0 * e1, S[5] += g0 * e2;
            S[6] += g1 * e0, S[7] += g1 * e1, S[8] += g1 * e2;
            S[9] += g2 * e0, S[10] += g2 * e1, S[11] += g2 * e2;
            S[12] += (double)df;
          }
          for (int a = 0; a < kImgAcc; ++a) out[1 + a] = S[a];
        }
      }
    });
  };
  if (need_grad) body(std::true_type{}, std::false_type{});
  else if (stats) body(std::false_type{}, std::true_type{});
  else body(std::false_type{}, std::false_type{});

  // Serial reduction in item order.
  double loss = 0.0;
  std::vector<double> img(kImgAcc * n, 0.0), edge(12 * E, 0.0);
  for (const Item& item : items_) {
    const double* in = acc.data() + item.acc_off;
    loss += in[0];
    for (int a = 0; a < kImgAcc; ++a) img[kImgAcc * item.image + a] += in[1 + a];
    const std::vector<Inc>& incs = inc_[item.image];
    for (size_t qi = 0; qi < incs.size(); ++qi) {
      const double* o = in + 1 + kImgAcc + kIncAcc * qi;
      for (int a = 0; a < 12; ++a) edge[12 * incs[qi].edge + a] += o[a];
      if (stats) {
        double* st = stats + 8 * incs[qi].edge + 4 * incs[qi].slot;
        for (int a = 0; a < 4; ++a) st[a] += o[12 + a];
      }
    }
  }
  if (!need_grad) return loss;

  // Parameter gradients from the sums.
  Tensor g_q = Tensor::zeros({n, 4}, dtype_), g_t = Tensor::zeros({n, 3}, dtype_),
         g_f = Tensor::zeros({n}, dtype_), g_pq = Tensor::zeros({E, 4}, dtype_),
         g_pt = Tensor::zeros({E, 3}, dtype_), g_ps = Tensor::zeros({E}, dtype_);
  T* gq = g_q.data<T>();
  T* gt = g_t.data<T>();
  T* gf = g_f.data<T>();
  T* gpq = g_pq.data<T>();
  T* gpt = g_pt.data<T>();
  T* gps = g_ps.data<T>();
  for (int64_t k = 0; k < n; ++k) {
    const double* S = img.data() + kImgAcc * k;
    double dq[4];
    sc_align_quat_backward<double>(q[4 * k], q[4 * k + 1], q[4 * k + 2], q[4 * k + 3], kQuatEps,
                                   S + 3, dq);
    for (int a = 0; a < 4; ++a) gq[4 * k + a] = (T)dq[a];
    for (int a = 0; a < 3; ++a)
      gt[3 * k + a] = (T)(S[a] * sc_align_signed_expm1_grad<double>((double)tr[3 * k + a]));
    gf[k] = fclamp[k] ? T(0) : (T)(S[12] * (double)fim[k] / fb);
  }
  std::vector<double> ds(E);
  double mean_sds = 0.0;
  for (int64_t e = 0; e < E; ++e) {
    const double* G = edge.data() + 12 * e;
    const double* M = G + 3;
    const double* R = Re.data() + 9 * e;
    const double* t = te.data() + 3 * e;
    double dR[9], dq[4];
    for (int a = 0; a < 9; ++a) dR[a] = -se[e] * M[a];
    sc_align_quat_backward<double>(pq[4 * e], pq[4 * e + 1], pq[4 * e + 2], pq[4 * e + 3],
                                   kQuatEps, dR, dq);
    for (int a = 0; a < 4; ++a) gpq[4 * e + a] = (T)dq[a];
    double mr = 0.0;
    for (int a = 0; a < 9; ++a) mr += M[a] * R[a];
    ds[e] = -(mr + G[0] * t[0] + G[1] * t[1] + G[2] * t[2]);
    for (int a = 0; a < 3; ++a)
      gpt[3 * e + a] =
          (T)(-se[e] * G[a] * sc_align_signed_expm1_grad<double>((double)pt[3 * e + a]));
    mean_sds += se[e] * ds[e];
  }
  mean_sds /= (double)E;
  for (int64_t e = 0; e < E; ++e) gps[e] = (T)(se[e] * ds[e] - mean_sds);
  *grads = {g_ld, g_q, g_t, g_f, g_pq, g_pt, g_ps};
  return loss;
}

Tensor AlignProblem::loss(const Tensor& log_depth, const Tensor& quat, const Tensor& trans,
                          const Tensor& log_focal, const Tensor& pw_quat, const Tensor& pw_trans,
                          const Tensor& pw_log_scale) const {
  const Tensor p[7] = {log_depth, quat, trans, log_focal, pw_quat, pw_trans, pw_log_scale};
  check_params(p);
  std::vector<Tensor> inputs(p, p + 7);
  const bool need_grad = grad_enabled() && any_requires_grad(inputs);
  std::vector<Tensor> grads;
  if (p[0].device().is_gpu()) {
    Tensor out = loss_on_device(p, need_grad, &grads);
    if (!need_grad) return out;
    std::vector<bool> want(7);
    for (int a = 0; a < 7; ++a) want[a] = p[a].requires_grad();
    return record_op1("align_loss", inputs, out,
                      [grads, want](const std::vector<Tensor>& g) -> std::vector<Tensor> {
                        std::vector<Tensor> res(7);
                        for (int a = 0; a < 7; ++a)
                          if (want[a]) res[a] = grads[a] * g[0];
                        return res;
                      });
  }
  double value = dtype_ == DType::Float32 ? run<float>(p, need_grad, &grads, nullptr)
                                          : run<double>(p, need_grad, &grads, nullptr);
  Tensor out = Tensor::scalar(value, dtype_);
  if (!need_grad) return out;
  std::vector<bool> want(7);
  for (int a = 0; a < 7; ++a) want[a] = p[a].requires_grad();
  const DType dt = dtype_;
  return record_op1("align_loss", inputs, out,
                    [grads, want, dt](const std::vector<Tensor>& g) -> std::vector<Tensor> {
                      const double go = g[0].item();
                      std::vector<Tensor> res(7);
                      for (int a = 0; a < 7; ++a) {
                        if (!want[a]) continue;
                        Tensor r = Tensor::empty(grads[a].shape(), dt);
                        const int64_t m = r.numel();
                        if (dt == DType::Float32) {
                          const float* src = grads[a].data<float>();
                          float* dst = r.data<float>();
                          for (int64_t x = 0; x < m; ++x) dst[x] = (float)(go * src[x]);
                        } else {
                          const double* src = grads[a].data<double>();
                          double* dst = r.data<double>();
                          for (int64_t x = 0; x < m; ++x) dst[x] = go * src[x];
                        }
                        res[a] = r;
                      }
                      return res;
                    });
}

Tensor AlignProblem::residual_stats(const Tensor& log_depth, const Tensor& quat,
                                    const Tensor& trans, const Tensor& log_focal,
                                    const Tensor& pw_quat, const Tensor& pw_trans,
                                    const Tensor& pw_log_scale) const {
  Tensor p[7] = {log_depth, quat, trans, log_focal, pw_quat, pw_trans, pw_log_scale};
  check_params(p);
  for (Tensor& t : p)  // once per alignment: the statistics pass runs on the CPU
    if (t.device().is_gpu()) t = t.detach().to_device(Device{});
  Tensor st = Tensor::zeros({n_edges(), 2, 4}, DType::Float64);
  if (dtype_ == DType::Float32) run<float>(p, false, nullptr, st.data<double>());
  else run<double>(p, false, nullptr, st.data<double>());
  return st;
}

// ---- helpers ----------------------------------------------------------------------

namespace {

// Sums of fn(i, acc) over [0, n) in fixed chunks, reduced in chunk order.
template <int K, typename F>
void chunked_sum(int64_t n, double* out, F fn) {
  const int64_t chunk = 1 << 14;
  const int64_t nc = (n + chunk - 1) / chunk;
  std::vector<double> part(K * std::max<int64_t>(nc, 1), 0.0);
  parallel_for(nc, 1, [&](int64_t c0, int64_t c1) {
    for (int64_t c = c0; c < c1; ++c) {
      double* acc = part.data() + K * c;
      const int64_t e = std::min(n, (c + 1) * chunk);
      for (int64_t i = c * chunk; i < e; ++i) fn(i, acc);
    }
  });
  for (int a = 0; a < K; ++a) out[a] = 0.0;
  for (int64_t c = 0; c < nc; ++c)
    for (int a = 0; a < K; ++a) out[a] += part[K * c + a];
}

}  // namespace

std::vector<double> align_weighted_moments(const Tensor& src, const Tensor& dst, const Tensor& w) {
  if (!src.defined() || src.ndim() < 1 || src.shape().back() != 3)
    throw ValueError("src: expected an (..., 3) array of points");
  if (!dst.defined() || dst.shape() != src.shape())
    throw ValueError("dst: expected the shape of src " + shape_str(src.shape()) + ", got " +
                     (dst.defined() ? shape_str(dst.shape()) : std::string("None")));
  const int64_t N = src.numel() / 3;
  if (w.defined() && w.numel() != N)
    throw ValueError("weights: expected " + std::to_string(N) + " values (one per point), got " +
                     std::to_string(w.numel()));
  Tensor s = as_dtype(src, DType::Float64), d = as_dtype(dst, DType::Float64);
  Tensor ww = w.defined() ? as_dtype(w, DType::Float64) : Tensor();
  const double* S = s.data<double>();
  const double* D = d.data<double>();
  const double* Wt = ww.defined() ? ww.data<double>() : nullptr;
  auto weight = [&](int64_t i) -> double {
    const double wi = Wt ? Wt[i] : 1.0;
    if (!(wi > 0.0) || !std::isfinite(wi)) return 0.0;
    if (!finite3(S[3 * i], S[3 * i + 1], S[3 * i + 2]) ||
        !finite3(D[3 * i], D[3 * i + 1], D[3 * i + 2]))
      return 0.0;
    return wi;
  };
  double m[7];
  chunked_sum<7>(N, m, [&](int64_t i, double* a) {
    const double wi = weight(i);
    if (wi == 0.0) return;
    a[0] += wi;
    for (int c = 0; c < 3; ++c) a[1 + c] += wi * S[3 * i + c], a[4 + c] += wi * D[3 * i + c];
  });
  std::vector<double> out(17, 0.0);
  out[0] = m[0];
  if (!(m[0] > 0.0)) return out;
  const double ms[3] = {m[1] / m[0], m[2] / m[0], m[3] / m[0]};
  const double md[3] = {m[4] / m[0], m[5] / m[0], m[6] / m[0]};
  double c2[10];
  chunked_sum<10>(N, c2, [&](int64_t i, double* a) {
    const double wi = weight(i);
    if (wi == 0.0) return;
    const double x[3] = {S[3 * i] - ms[0], S[3 * i + 1] - ms[1], S[3 * i + 2] - ms[2]};
    const double y[3] = {D[3 * i] - md[0], D[3 * i + 1] - md[1], D[3 * i + 2] - md[2]};
    for (int r = 0; r < 3; ++r)
      for (int c = 0; c < 3; ++c) a[3 * r + c] += wi * y[r] * x[c];
    a[9] += wi * (x[0] * x[0] + x[1] * x[1] + x[2] * x[2]);
  });
  for (int c = 0; c < 3; ++c) out[1 + c] = ms[c], out[4 + c] = md[c];
  for (int a = 0; a < 9; ++a) out[7 + a] = c2[a];
  out[16] = c2[9];
  return out;
}

double align_estimate_focal(const Tensor& pts, const Tensor& weights, double cx, double cy,
                            int iters, double fmin, double fmax) {
  if (!pts.defined() || pts.ndim() != 3 || pts.size(2) != 3)
    throw ValueError("pts3d: expected an (H, W, 3) pointmap, got " +
                     (pts.defined() ? shape_str(pts.shape()) : std::string("None")));
  const int64_t H = pts.size(0), W = pts.size(1), N = H * W;
  if (weights.defined() && weights.shape() != Shape{H, W})
    throw ValueError("weights: expected shape " + shape_str({H, W}) + ", got " +
                     shape_str(weights.shape()));
  if (iters < 0) throw ValueError("iters: expected >= 0, got " + std::to_string(iters));
  Tensor p = as_dtype(pts, DType::Float64);
  Tensor wt = weights.defined() ? as_dtype(weights, DType::Float64) : Tensor();
  const double* P = p.data<double>();
  const double* Wt = wt.defined() ? wt.data<double>() : nullptr;
  // per point: (x/z, y/z), pixel offsets from the principal point, weight. Points
  // that would project more than one image size beyond the border even with the
  // smallest admissible focal are left out: near z = 0 they would dominate the
  // least-squares sums (DUSt3R keeps them).
  const double amax = fmin > 0.0 ? 1.5 * (double)W / fmin : HUGE_VAL;
  const double bmax = fmin > 0.0 ? 1.5 * (double)H / fmin : HUGE_VAL;
  auto get = [&](int64_t i, double& a, double& b, double& pu, double& pv) -> double {
    const double wi = Wt ? Wt[i] : 1.0;
    const double z = P[3 * i + 2];
    if (!(wi > 0.0) || !std::isfinite(wi) || !(z > 0.0) || !finite3(P[3 * i], P[3 * i + 1], z))
      return 0.0;
    a = P[3 * i] / z, b = P[3 * i + 1] / z;
    if (!(std::fabs(a) <= amax) || !(std::fabs(b) <= bmax)) return 0.0;
    pu = (double)(i % W) + 0.5 - cx, pv = (double)(i / W) + 0.5 - cy;
    return wi;
  };
  // Start: the median of the per-axis votes pu / a, pv / b (DUSt3R's 'median'
  // mode), robust to outliers; then `iters` Weiszfeld steps.
  std::vector<double> votes;
  votes.reserve(2 * N);
  for (int64_t i = 0; i < N; ++i) {
    double a, b, pu, pv;
    if (get(i, a, b, pu, pv) == 0.0) continue;
    if (std::fabs(pu) >= 1.0 && std::fabs(a) > 0.0) votes.push_back(pu / a);
    if (std::fabs(pv) >= 1.0 && std::fabs(b) > 0.0) votes.push_back(pv / b);
  }
  if (votes.empty()) return std::numeric_limits<double>::quiet_NaN();
  std::nth_element(votes.begin(), votes.begin() + votes.size() / 2, votes.end());
  double f = votes[votes.size() / 2];
  double s[2];
  if (!(f > 0.0) || !std::isfinite(f)) {  // fall back on the least-squares start
    chunked_sum<2>(N, s, [&](int64_t i, double* acc) {
      double a, b, pu, pv;
      const double wi = get(i, a, b, pu, pv);
      if (wi == 0.0) return;
      acc[0] += wi * (a * pu + b * pv);
      acc[1] += wi * (a * a + b * b);
    });
    if (!(s[1] > 0.0)) return std::numeric_limits<double>::quiet_NaN();
    f = s[0] / s[1];
  }
  for (int it = 0; it < iters; ++it) {
    const double fc = f;
    chunked_sum<2>(N, s, [&](int64_t i, double* acc) {
      double a, b, pu, pv;
      const double wi = get(i, a, b, pu, pv);
      if (wi == 0.0) return;
      const double du = pu - fc * a, dv = pv - fc * b;
      const double r = wi / std::max(std::sqrt(du * du + dv * dv), 1e-8);
      acc[0] += r * (a * pu + b * pv);
      acc[1] += r * (a * a + b * b);
    });
    if (!(s[1] > 0.0)) break;
    f = s[0] / s[1];
  }
  if (!std::isfinite(f)) return std::numeric_limits<double>::quiet_NaN();
  return std::min(std::max(f, fmin), fmax);
}

std::pair<Tensor, Tensor> align_dense_depth(const std::vector<Tensor>& pts,
                                            const std::vector<Tensor>& conf, const Tensor& A,
                                            const Tensor& b, const Tensor& R, const Tensor& Tw,
                                            double f, double cx, double cy, const Tensor& init,
                                            int iters, int conf_mode) {
  if (!init.defined() || init.ndim() != 2)
    throw ValueError("init: expected an (H, W) depth map");
  const int64_t H = init.size(0), W = init.size(1);
  const int64_t Q = (int64_t)pts.size();
  if ((int64_t)conf.size() != Q) throw ValueError("conf: expected one map per pts3d map");
  if (!A.defined() || A.shape() != Shape{Q, 3, 3})
    throw ValueError("A: expected shape " + shape_str({Q, 3, 3}));
  if (!b.defined() || b.shape() != Shape{Q, 3}) throw ValueError("b: expected shape " + shape_str({Q, 3}));
  if (!R.defined() || R.shape() != Shape{3, 3}) throw ValueError("R: expected shape (3, 3)");
  if (!Tw.defined() || Tw.numel() != 3) throw ValueError("T: expected 3 values");
  if (!(f > 0.0) || !std::isfinite(f)) throw ValueError("focal: expected a finite value > 0");
  std::vector<Tensor> P(Q), C(Q);
  for (int64_t q = 0; q < Q; ++q) {
    if (!pts[q].defined() || pts[q].shape() != Shape{H, W, 3})
      throw ValueError("pts3d[" + std::to_string(q) + "]: expected shape " + shape_str({H, W, 3}));
    if (!conf[q].defined() || conf[q].shape() != Shape{H, W})
      throw ValueError("conf[" + std::to_string(q) + "]: expected shape " + shape_str({H, W}));
    P[q] = as_dtype(pts[q], DType::Float32);
    C[q] = as_dtype(conf[q], DType::Float32);
  }
  Tensor a64 = as_dtype(A, DType::Float64), b64 = as_dtype(b, DType::Float64);
  Tensor r64 = as_dtype(R, DType::Float64), t64 = as_dtype(Tw, DType::Float64);
  Tensor d0 = as_dtype(init, DType::Float32);
  // Camera-frame maps: z_q = R^T (A_q y + b_q - T) = Mq y + mq.
  std::vector<double> Mq(9 * Q), mq(3 * Q);
  const double* Rm = r64.data<double>();
  const double* Tv = t64.data<double>();
  for (int64_t q = 0; q < Q; ++q) {
    const double* Aq = a64.data<double>() + 9 * q;
    const double* bq = b64.data<double>() + 3 * q;
    for (int r = 0; r < 3; ++r) {
      for (int c = 0; c < 3; ++c) {
        double acc = 0.0;
        for (int k = 0; k < 3; ++k) acc += Rm[3 * k + r] * Aq[3 * k + c];
        Mq[9 * q + 3 * r + c] = acc;
      }
      double acc = 0.0;
      for (int k = 0; k < 3; ++k) acc += Rm[3 * k + r] * (bq[k] - Tv[k]);
      mq[3 * q + r] = acc;
    }
  }
  Tensor depth = Tensor::empty({H, W}, DType::Float32), wsum = Tensor::empty({H, W}, DType::Float32);
  float* D = depth.data<float>();
  float* WS = wsum.data<float>();
  const float* I0 = d0.data<float>();
  // One image row at a time: the views' camera-frame points of the row (planes of
  // W values), then `iters` reweighted steps over all pixels of the row at once
  // (the inner loops over u vectorise).
  parallel_for(H, 1, [&](int64_t r0, int64_t r1) {
    std::vector<float> z(3 * Q * W), wq(Q * W), d(W), num(W), den(W), ray0(W), tot(W);
    for (int64_t v = r0; v < r1; ++v) {
      const float ray1 = (float)(((double)v + 0.5 - cy) / f);
      for (int64_t u = 0; u < W; ++u) {
        ray0[u] = (float)(((double)u + 0.5 - cx) / f);
        d[u] = I0[v * W + u];
        tot[u] = 0.0f;
      }
      for (int64_t q = 0; q < Q; ++q) {
        const float* y = P[q].data<float>() + 3 * v * W;
        const float* cq = C[q].data<float>() + v * W;
        const double* M = Mq.data() + 9 * q;
        float* zq = z.data() + 3 * q * W;
        float* wr = wq.data() + q * W;
        for (int64_t u = 0; u < W; ++u) {
          float w = sc_align_conf_weight<float>(cq[u], conf_mode);
          const float y0 = y[3 * u], y1 = y[3 * u + 1], y2 = y[3 * u + 2];
          if (!finite3(y0, y1, y2)) w = 0.0f;
          const double a0 = w > 0.0f ? y0 : 0.0, a1 = w > 0.0f ? y1 : 0.0, a2 = w > 0.0f ? y2 : 0.0;
          zq[u] = (float)(M[0] * a0 + M[1] * a1 + M[2] * a2 + mq[3 * q]);
          zq[W + u] = (float)(M[3] * a0 + M[4] * a1 + M[5] * a2 + mq[3 * q + 1]);
          zq[2 * W + u] = (float)(M[6] * a0 + M[7] * a1 + M[8] * a2 + mq[3 * q + 2]);
          wr[u] = w;
          tot[u] += w;
        }
      }
      for (int it = 0; it < iters; ++it) {
        std::fill(num.begin(), num.end(), 0.0f);
        std::fill(den.begin(), den.end(), 0.0f);
        for (int64_t q = 0; q < Q; ++q) {
          const float* __restrict z0 = z.data() + 3 * q * W;
          const float* __restrict z1 = z0 + W;
          const float* __restrict z2 = z1 + W;
          const float* __restrict wr = wq.data() + q * W;
          for (int64_t u = 0; u < W; ++u)
            sc_align_depth_irls_term<float>(d[u], ray0[u], ray1, z0[u], z1[u], z2[u], wr[u],
                                            1e-7f * d[u], &num[u], &den[u]);
        }
        for (int64_t u = 0; u < W; ++u) {
          const float nd = num[u] / den[u];
          if (den[u] > 0.0f && nd > 0.0f && std::isfinite(nd)) d[u] = nd;
        }
      }
      for (int64_t u = 0; u < W; ++u) {
        D[v * W + u] = d[u];
        WS[v * W + u] = tot[u];
      }
    }
  });
  return {depth, wsum};
}

}  // namespace sc
