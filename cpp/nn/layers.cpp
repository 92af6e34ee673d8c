// Linear, LayerNorm, MLP and the named-parameter dict (nn/nn.h).
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstring>
#include <map>
#include <mutex>
#include <vector>

#if defined(__F16C__)
#include <immintrin.h>
#endif

#include "core/thread_pool.h"
#include "gpu/ops/mast3r.h"
#include "kernels/elementwise.h"
#include "kernels/half.h"
#include "kernels/layernorm.h"
#include "nn/nn.h"
#include "ops/blas.h"

namespace sc {
namespace nn {

// ---- profiling ---------------------------------------------------------------------

namespace {

std::atomic<bool> g_profile{false};
std::mutex g_profile_mu;
std::map<std::string, std::pair<double, int64_t>> g_profile_totals;
thread_local int t_profile_depth = 0;  // only the outermost scope counts

int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

}  // namespace

void profile_enable(bool on) { g_profile.store(on); }

std::vector<std::pair<std::string, std::pair<double, int64_t>>> profile_take() {
  std::lock_guard<std::mutex> lk(g_profile_mu);
  std::vector<std::pair<std::string, std::pair<double, int64_t>>> r(g_profile_totals.begin(),
                                                                    g_profile_totals.end());
  g_profile_totals.clear();
  return r;
}

ProfileScope::ProfileScope(const char* k) : kind(k) {
  if (!g_profile.load(std::memory_order_relaxed)) return;  // t0 = -1: off
  t0 = t_profile_depth++ == 0 ? now_ns() : -2;            // -2: nested, not counted
}

ProfileScope::~ProfileScope() {
  if (t0 == -1) return;
  --t_profile_depth;
  if (t0 == -2) return;
  const double ms = (double)(now_ns() - t0) * 1e-6;
  std::lock_guard<std::mutex> lk(g_profile_mu);
  auto& e = g_profile_totals[kind];
  e.first += ms;
  e.second += 1;
}

// ---- half <-> float ------------------------------------------------------------

void to_float32(const void* src, DType dtype, int64_t n, float* dst) {
  if (dtype == DType::Float32) {
    std::memcpy(dst, src, (size_t)n * sizeof(float));
    return;
  }
  const uint16_t* s = static_cast<const uint16_t*>(src);
  if (dtype == DType::BFloat16) {
    for (int64_t i = 0; i < n; ++i) {  // a shift: vectorises as it is
      const uint32_t bits = (uint32_t)s[i] << 16;
      std::memcpy(dst + i, &bits, 4);
    }
    return;
  }
  if (dtype != DType::Float16)
    throw TypeError(std::string("to_float32: unsupported weight dtype ") + dtype_name(dtype));
  int64_t i = 0;
#if defined(__F16C__)
  for (; i + 8 <= n; i += 8)
    _mm256_storeu_ps(dst + i, _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(s + i))));
#endif
  for (; i < n; ++i) dst[i] = sc_f16_to_f32(s[i]);
}

namespace {

void from_float32(const float* src, int64_t n, DType dtype, uint16_t* dst) {
  int64_t i = 0;
  if (dtype == DType::BFloat16) {
    for (; i < n; ++i) dst[i] = sc_f32_to_bf16(src[i]);
    return;
  }
#if defined(__F16C__)
  for (; i + 8 <= n; i += 8)
    _mm_storeu_si128(reinterpret_cast<__m128i*>(dst + i),
                     _mm256_cvtps_ph(_mm256_loadu_ps(src + i), _MM_FROUND_TO_NEAREST_INT));
#endif
  for (; i < n; ++i) dst[i] = sc_f32_to_f16(src[i]);
}

bool weight_dtype_ok(DType d) {
  return d == DType::Float32 || d == DType::Float16 || d == DType::BFloat16;
}

// double -> float rounded to odd (a float whose last bit is set when inexact), so
// that rounding it again to a narrower format (float16 / bfloat16, round to
// nearest even) gives the correctly rounded result of the double: no double rounding.
float round_to_odd(double d) {
  float f = (float)d;
  if (!(std::fabs((double)f) < INFINITY) || (double)f == d || d != d) return f;
  uint32_t bits;
  std::memcpy(&bits, &f, 4);
  if ((bits & 1u) == 0) {
    if (std::fabs((double)f) > std::fabs(d)) bits -= 1;  // toward zero
    else bits += 1;                                      // away from zero
  }
  std::memcpy(&f, &bits, 4);
  return f;
}

}  // namespace

Tensor convert_weight(const Tensor& t, DType dtype) {
  if (!weight_dtype_ok(dtype))
    throw TypeError(std::string("weights: cannot keep weights in ") + dtype_name(dtype) +
                    " (float32, float16 or bfloat16)");
  if (t.dtype() == dtype && t.is_contiguous()) return t.detach();
  Tensor src = t.detach();
  if (src.dtype() == DType::Float64 && dtype != DType::Float32) {
    // through float32 rounded to odd: one correct rounding (see round_to_odd)
    Tensor d = src.contiguous();
    Tensor f = Tensor::empty(d.shape(), DType::Float32);
    const double* dp = d.data<double>();
    float* fp = f.data<float>();
    parallel_for(d.numel(), 1 << 14, [&](int64_t i0, int64_t i1) {
      for (int64_t i = i0; i < i1; ++i) fp[i] = round_to_odd(dp[i]);
    });
    src = f;
  }
  if (!weight_dtype_ok(src.dtype())) src = src.to(DType::Float32);
  src = src.contiguous();
  Tensor out = Tensor::empty(src.shape(), dtype);
  const int64_t n = src.numel();
  constexpr int64_t kBlock = 1 << 14;
  const DType sd = src.dtype();
  const char* sp = static_cast<const char*>(src.raw());
  char* dp = static_cast<char*>(out.raw());
  const size_t si = itemsize(sd), di = itemsize(dtype);
  parallel_for((n + kBlock - 1) / kBlock, 4, [&](int64_t b0, int64_t b1) {
    std::vector<float> tmp(sd == DType::Float32 ? 0 : (size_t)kBlock);
    for (int64_t b = b0; b < b1; ++b) {
      const int64_t i0 = b * kBlock, m = std::min(kBlock, n - i0);
      const float* f;
      if (sd == DType::Float32) {
        f = reinterpret_cast<const float*>(sp) + i0;
      } else {
        to_float32(sp + i0 * si, sd, m, tmp.data());
        f = tmp.data();
      }
      if (dtype == DType::Float32)
        std::memcpy(dp + i0 * di, f, (size_t)m * sizeof(float));
      else
        from_float32(f, m, dtype, reinterpret_cast<uint16_t*>(dp + i0 * di));
    }
  });
  return out;
}

// ---- raw routines -----------------------------------------------------------

namespace {

int64_t round_up16(int64_t a) { return (a + 15) / 16 * 16; }

// Per-thread scratch for converted weight tiles.
float* weight_scratch(size_t n) {
  thread_local std::vector<float> buf;
  if (buf.size() < n) buf.resize(n);
  return buf.data();
}

}  // namespace

void linear_any(const float* x, int64_t ldx, int64_t N, int64_t in, const void* w, DType wdtype,
                const float* b, int64_t out, float* y, int64_t ldy, Activation act,
                bool accumulate) {
  if (N <= 0 || out <= 0) return;
  if (accumulate && act != Activation::None)
    throw ValueError("linear: an activation cannot be combined with accumulate");
  if (!weight_dtype_ok(wdtype))
    throw TypeError(std::string("linear: unsupported weight dtype ") + dtype_name(wdtype));
  if (in <= 0) {
    parallel_for(N, std::max<int64_t>(1, 16384 / out), [&](int64_t r0, int64_t r1) {
      for (int64_t r = r0; r < r1; ++r)
        for (int64_t c = 0; c < out; ++c) {
          float v = (accumulate ? y[r * ldy + c] : 0.0f) + (b ? b[c] : 0.0f);
          y[r * ldy + c] = act == Activation::Gelu ? sc_gelu(v) : v;
        }
    });
    return;
  }
  ProfileScope prof("linear");
  SerialBlasScope serial;
  const int64_t nt = std::max(1, num_threads());
  // Column tiles: each BLAS call packs all of x (N x in) again, and each tile of a
  // half weight is converted into a scratch of NT x in floats, so tiles are wide:
  // about N columns (the packing of x then costs about as much memory traffic as
  // the weight's conversion), at most 2048, and a multiple of the thread count in
  // number so that every thread gets the same work. Row blocks only when the
  // columns alone cannot feed the threads.
  const int64_t target = std::min<int64_t>(2048, std::max<int64_t>(256, N));
  int64_t ncol = std::max<int64_t>(nt, (out + target - 1) / target);
  if (ncol % nt) ncol += nt - ncol % nt;
  const int64_t NT = std::min(out, round_up16((out + ncol - 1) / ncol));
  ncol = (out + NT - 1) / NT;
  int64_t nrow = 1;
  if (ncol < 2 * nt) nrow = std::max<int64_t>(1, std::min((2 * nt + ncol - 1) / ncol, N / 64));
  const int64_t MB = (N + nrow - 1) / nrow;
  nrow = (N + MB - 1) / MB;
  const size_t wsz = itemsize(wdtype);
  parallel_for(nrow * ncol, 1, [&](int64_t t0, int64_t t1) {
    for (int64_t t = t0; t < t1; ++t) {
      const int64_t rb = t / ncol, cb = t % ncol;
      const int64_t r0 = rb * MB, m = std::min(MB, N - r0);
      const int64_t c0 = cb * NT, n = std::min(NT, out - c0);
      const void* wt_raw = static_cast<const char*>(w) + (size_t)(c0 * in) * wsz;
      const float* wt;
      if (wdtype == DType::Float32) {
        wt = static_cast<const float*>(wt_raw);
      } else {
        float* s = weight_scratch((size_t)(n * in));
        to_float32(wt_raw, wdtype, n * in, s);
        wt = s;
      }
      float* yt = y + r0 * ldy + c0;
      gemm_serial(false, true, m, n, in, 1.0f, x + r0 * ldx, ldx, wt, in, accumulate ? 1.0f : 0.0f,
                  yt, ldy);
      if (!b && act == Activation::None) continue;
      for (int64_t r = 0; r < m; ++r) {
        float* yr = yt + r * ldy;
        if (b) {
          const float* bt = b + c0;
          for (int64_t c = 0; c < n; ++c) yr[c] += bt[c];
        }
        if (act == Activation::Gelu)
          for (int64_t c = 0; c < n; ++c) yr[c] = sc_gelu(yr[c]);
      }
    }
  });
}

void linear_raw(const float* x, int64_t ldx, int64_t N, int64_t in, const float* w,
                const float* b, int64_t out, float* y, int64_t ldy, Activation act,
                bool accumulate) {
  linear_any(x, ldx, N, in, w, DType::Float32, b, out, y, ldy, act, accumulate);
}

void layer_norm_raw(const float* x, int64_t ldx, int64_t N, int64_t n, const float* w,
                    const float* b, float eps, float* y, int64_t ldy) {
  ProfileScope prof("layernorm");
  const int64_t grain = std::max<int64_t>(1, 8192 / std::max<int64_t>(n, 1));
  parallel_for(N, grain, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) sc_layer_norm_row(x + r * ldx, (int)n, w, b, eps, y + r * ldy);
  });
}

// ---- Tensor wrappers -----------------------------------------------------------

namespace {

// A 2-D float32 matrix whose rows are contiguous (column stride 1): used in place.
Tensor rows_f32(const Tensor& t, const char* fn, const char* arg) {
  if (!t.defined()) throw ValueError(std::string(fn) + ": " + arg + " is undefined");
  if (t.ndim() != 2)
    throw ValueError(std::string(fn) + ": " + arg + " must be 2-D (tokens, channels), got shape " +
                     shape_str(t.shape()));
  Tensor f = t.detach().to(DType::Float32);
  if (f.shape()[1] > 1 && f.strides()[1] != 1) f = f.contiguous();
  if (f.shape()[0] > 1 && f.strides()[0] < f.shape()[1]) f = f.contiguous();
  return f;
}

int64_t ld_of(const Tensor& t) { return t.shape()[0] > 1 ? t.strides()[0] : t.shape()[1]; }

Tensor vec_f32(const Tensor& t, int64_t n, const char* fn, const char* arg) {
  if (!t.defined()) return t;
  if (t.ndim() != 1 || t.shape()[0] != n)
    throw ValueError(std::string(fn) + ": " + arg + " must have shape (" + std::to_string(n) +
                     ",), got " + shape_str(t.shape()));
  return t.detach().to(DType::Float32).contiguous();
}

}  // namespace

Tensor linear(const Tensor& x, const Tensor& w, const Tensor& b, Activation act) {
  Tensor X = rows_f32(x, "linear", "x");
  if (!w.defined() || w.ndim() != 2)
    throw ValueError("linear: weight must be 2-D (out, in)");
  const int64_t N = X.shape()[0], in = X.shape()[1], out = w.shape()[0];
  if (w.shape()[1] != in)
    throw ValueError("linear: weight shape " + shape_str(w.shape()) + " does not match x shape " +
                     shape_str(x.shape()) + " (expected (out, " + std::to_string(in) + "))");
  // float16 / bfloat16 weights stay half (converted per tile); others go to float32
  Tensor W = (w.dtype() == DType::Float16 || w.dtype() == DType::BFloat16)
                 ? w.detach().contiguous()
                 : w.detach().to(DType::Float32).contiguous();
  Tensor B = vec_f32(b, out, "linear", "bias");
  Tensor y = Tensor::empty({N, out});
  linear_any(X.data<float>(), ld_of(X), N, in, W.raw(), W.dtype(),
             B.defined() ? B.data<float>() : nullptr, out, y.data<float>(), out, act);
  return y;
}

Tensor layer_norm(const Tensor& x, const Tensor& w, const Tensor& b, double eps) {
  if (x.defined() && x.device().is_gpu()) {  // gpu/kernels/mast3r.h
    if (x.ndim() != 2) throw ValueError("layer_norm: x must be 2-D (tokens, channels), got shape " + shape_str(x.shape()));
    const int64_t n = x.shape()[1];
    for (const Tensor* t : {&w, &b})
      if (!t->defined() || t->device() != x.device())
        throw ValueError(std::string("layer_norm: weight and bias must be on x's device ") + x.device().str() +
                         (t->defined() ? ", got " + t->device().str() : std::string(", got none")));
    Tensor X = x.detach().to(DType::Float32).contiguous();
    Tensor W = vec_f32(w, n, "layer_norm", "weight"), B = vec_f32(b, n, "layer_norm", "bias");
    Tensor y = Tensor::empty({x.shape()[0], n}, DType::Float32, x.device());
    gpu::mast3r::layer_norm(X, W, B, (float)eps, y);
    return y;
  }
  Tensor X = rows_f32(x, "layer_norm", "x");
  const int64_t N = X.shape()[0], n = X.shape()[1];
  Tensor W = vec_f32(w, n, "layer_norm", "weight"), B = vec_f32(b, n, "layer_norm", "bias");
  if (!W.defined() || !B.defined()) throw ValueError("layer_norm: weight and bias are required");
  Tensor y = Tensor::empty({N, n});
  layer_norm_raw(X.data<float>(), ld_of(X), N, n, W.data<float>(), B.data<float>(), (float)eps,
                 y.data<float>(), n);
  return y;
}

Tensor grid_positions(int64_t h, int64_t w) {
  Tensor p = Tensor::empty({h * w, 2}, DType::Int64);
  int64_t* d = p.data<int64_t>();
  for (int64_t y = 0; y < h; ++y)
    for (int64_t x = 0; x < w; ++x) {
      d[2 * (y * w + x)] = y;
      d[2 * (y * w + x) + 1] = x;
    }
  return p;
}

// ---- Params -----------------------------------------------------------------------

const Tensor* Params::find(const std::string& name) const {
  auto it = t_.find(name);
  if (it != t_.end()) {
    used_[name] = true;
    return &it->second;
  }
  auto a = alias_.find(name);
  if (a == alias_.end()) return nullptr;
  it = t_.find(a->second);
  if (it == t_.end()) return nullptr;
  used_[a->second] = true;
  return &it->second;
}

bool Params::has(const std::string& name) const { return find(name) != nullptr; }

Tensor Params::get_opt(const std::string& name) const {
  const Tensor* p = find(name);
  if (!p || !p->defined()) return Tensor();
  const Tensor& t = *p;
  if (!is_floating(t.dtype()))
    throw TypeError("weights: '" + name + "' has dtype " + dtype_name(t.dtype()) +
                    ", expected a floating-point tensor");
  if (check_only_) return t.detach();
  return t.detach().to(DType::Float32).contiguous();
}

Tensor Params::get(const std::string& name) const {
  Tensor t = get_opt(name);
  if (!t.defined()) {
    std::string msg = "weights: missing tensor '" + name + "'";
    auto a = alias_.find(name);
    if (a != alias_.end()) msg += " (or its tied alias '" + a->second + "')";
    throw ValueError(msg);
  }
  return t;
}

Tensor Params::get(const std::string& name, const Shape& shape) const {
  Tensor t = get(name);
  if (t.shape() != shape)
    throw ValueError("weights: tensor '" + name + "' has shape " + shape_str(t.shape()) +
                     ", expected " + shape_str(shape));
  return t;
}

Tensor Params::get_weight(const std::string& name, DType dtype) const {
  const Tensor* p = find(name);
  if (!p || !p->defined()) return get(name);  // raises, naming it
  if (!is_floating(p->dtype()))
    throw TypeError("weights: '" + name + "' has dtype " + dtype_name(p->dtype()) +
                    ", expected a floating-point tensor");
  if (check_only_) return p->detach();
  return convert_weight(*p, dtype);
}

void Params::alias(const std::string& name, const std::string& other) {
  alias_[name] = other;
  alias_[other] = name;
}

std::vector<std::string> Params::keys_with_prefix(const std::string& prefix) const {
  std::vector<std::string> r;
  for (auto it = t_.lower_bound(prefix); it != t_.end() && it->first.compare(0, prefix.size(), prefix) == 0; ++it)
    r.push_back(it->first);
  return r;
}

std::vector<std::string> Params::unused() const {
  std::vector<std::string> r;
  for (const auto& kv : t_) {
    if (used_.count(kv.first)) continue;
    auto a = alias_.find(kv.first);  // the other name of a tied pair that was used
    if (a != alias_.end() && used_.count(a->second)) continue;
    r.push_back(kv.first);
  }
  return r;
}

// ---- modules -------------------------------------------------------------------------

Linear::Linear(const Params& p, const std::string& prefix, int64_t in_dim, int64_t out_dim,
               bool bias, DType weight_dtype) {
  w = p.get_weight(prefix + ".weight", weight_dtype);
  if (w.ndim() != 2)
    throw ValueError("weights: tensor '" + prefix + ".weight' must be 2-D (out, in), got shape " +
                     shape_str(w.shape()));
  out = w.shape()[0];
  in = w.shape()[1];
  if ((in_dim >= 0 && in != in_dim) || (out_dim >= 0 && out != out_dim))
    throw ValueError("weights: tensor '" + prefix + ".weight' has shape " + shape_str(w.shape()) +
                     ", expected (" + (out_dim >= 0 ? std::to_string(out_dim) : std::string("*")) +
                     ", " + (in_dim >= 0 ? std::to_string(in_dim) : std::string("*")) + ")");
  if (bias) b = p.get(prefix + ".bias", {out});
}

void Linear::forward(const float* x, int64_t ldx, int64_t N, float* y, int64_t ldy,
                     Activation act) const {
  linear_any(x, ldx, N, in, w.raw(), w.dtype(), b.defined() ? b.data<float>() : nullptr, out, y,
             ldy, act, false);
}

void Linear::forward_acc(const float* x, int64_t ldx, int64_t N, float* y, int64_t ldy) const {
  linear_any(x, ldx, N, in, w.raw(), w.dtype(), b.defined() ? b.data<float>() : nullptr, out, y,
             ldy, Activation::None, true);
}

LayerNorm::LayerNorm(const Params& p, const std::string& prefix, int64_t d, float e)
    : dim(d), eps(e) {
  w = p.get(prefix + ".weight", {d});
  b = p.get(prefix + ".bias", {d});
}

void LayerNorm::forward(const float* x, int64_t ldx, int64_t N, float* y, int64_t ldy) const {
  layer_norm_raw(x, ldx, N, dim, w.data<float>(), b.data<float>(), eps, y, ldy);
}

Mlp::Mlp(const Params& p, const std::string& prefix, int64_t dim, DType weight_dtype) {
  fc1 = Linear(p, prefix + ".fc1", dim, -1, true, weight_dtype);
  fc2 = Linear(p, prefix + ".fc2", fc1.out, -1, true, weight_dtype);
}

void Mlp::forward_acc(const float* x, int64_t N, float* y) const {
  Tensor h = Tensor::empty({N, fc1.out});
  fc1.forward(x, fc1.in, N, h.data<float>(), fc1.out, Activation::Gelu);
  fc2.forward_acc(h.data<float>(), fc1.out, N, y, fc2.out);
}

void Mlp::forward(const float* x, int64_t N, float* y) const {
  Tensor h = Tensor::empty({N, fc1.out});
  fc1.forward(x, fc1.in, N, h.data<float>(), fc1.out, Activation::Gelu);
  fc2.forward(h.data<float>(), fc1.out, N, y, fc2.out);
}

}  // namespace nn
}  // namespace sc
