// Linear, LayerNorm, MLP and the named-parameter dict (nn/nn.h).
#include <algorithm>
#include <vector>

#include "core/thread_pool.h"
#include "kernels/elementwise.h"
#include "kernels/layernorm.h"
#include "nn/nn.h"
#include "ops/blas.h"

namespace sc {
namespace nn {

// ---- raw routines -----------------------------------------------------------

void linear_raw(const float* x, int64_t ldx, int64_t N, int64_t in, const float* w,
                const float* b, int64_t out, float* y, int64_t ldy, Activation act,
                bool accumulate) {
  if (N <= 0 || out <= 0) return;
  if (accumulate && act != Activation::None)
    throw ValueError("linear: an activation cannot be combined with accumulate");
  if (in > 0) {
    gemm(false, true, N, out, in, 1.0f, x, ldx, w, in, accumulate ? 1.0f : 0.0f, y, ldy);
  } else if (!accumulate) {
    for (int64_t r = 0; r < N; ++r) std::fill(y + r * ldy, y + r * ldy + out, 0.0f);
  }
  if (!b && act == Activation::None) return;
  const int64_t grain = std::max<int64_t>(1, 16384 / out);
  parallel_for(N, grain, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      float* yr = y + r * ldy;
      if (b)
        for (int64_t c = 0; c < out; ++c) yr[c] += b[c];
      if (act == Activation::Gelu)
        for (int64_t c = 0; c < out; ++c) yr[c] = sc_gelu(yr[c]);
    }
  });
}

void layer_norm_raw(const float* x, int64_t ldx, int64_t N, int64_t n, const float* w,
                    const float* b, float eps, float* y, int64_t ldy) {
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
  Tensor W = w.detach().to(DType::Float32).contiguous();
  Tensor B = vec_f32(b, out, "linear", "bias");
  Tensor y = Tensor::empty({N, out});
  linear_raw(X.data<float>(), ld_of(X), N, in, W.data<float>(), B.defined() ? B.data<float>() : nullptr,
             out, y.data<float>(), out, act);
  return y;
}

Tensor layer_norm(const Tensor& x, const Tensor& w, const Tensor& b, double eps) {
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

bool Params::has(const std::string& name) const {
  if (t_.count(name)) return true;
  auto a = alias_.find(name);
  return a != alias_.end() && t_.count(a->second);
}

Tensor Params::get_opt(const std::string& name) const {
  auto it = t_.find(name);
  if (it == t_.end()) {
    auto a = alias_.find(name);
    if (a == alias_.end()) return Tensor();
    it = t_.find(a->second);
    if (it == t_.end()) return Tensor();
  }
  const Tensor& t = it->second;
  if (!t.defined()) return Tensor();
  if (!is_floating(t.dtype()))
    throw TypeError("weights: '" + name + "' has dtype " + dtype_name(t.dtype()) +
                    ", expected a floating-point tensor");
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

// ---- modules -------------------------------------------------------------------------

Linear::Linear(const Params& p, const std::string& prefix, int64_t in_dim, int64_t out_dim,
               bool bias) {
  w = p.get(prefix + ".weight");
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
  linear_raw(x, ldx, N, in, w.data<float>(), b.defined() ? b.data<float>() : nullptr, out, y, ldy,
             act, false);
}

void Linear::forward_acc(const float* x, int64_t ldx, int64_t N, float* y, int64_t ldy) const {
  linear_raw(x, ldx, N, in, w.data<float>(), b.defined() ? b.data<float>() : nullptr, out, y, ldy,
             Activation::None, true);
}

LayerNorm::LayerNorm(const Params& p, const std::string& prefix, int64_t d, float e)
    : dim(d), eps(e) {
  w = p.get(prefix + ".weight", {d});
  b = p.get(prefix + ".bias", {d});
}

void LayerNorm::forward(const float* x, int64_t ldx, int64_t N, float* y, int64_t ldy) const {
  layer_norm_raw(x, ldx, N, dim, w.data<float>(), b.data<float>(), eps, y, ldy);
}

Mlp::Mlp(const Params& p, const std::string& prefix, int64_t dim) {
  fc1 = Linear(p, prefix + ".fc1", dim);
  fc2 = Linear(p, prefix + ".fc2", fc1.out);
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
