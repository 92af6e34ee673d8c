// Reductions over any set of axes, softmax and log_softmax.
#include <algorithm>
#include <cmath>
#include <limits>

#include "autograd/function.h"
#include "core/thread_pool.h"
#include "gpu/ops/gpu_ops.h"
#include "kernels/elementwise.h"
#include "ops/ops.h"

namespace sc {

using Grads = std::vector<Tensor>;

namespace {

// The input as a contiguous (A, R, K) block reduced over R into (A, K):
// K == 1 is the row case (reduced axes last, possibly after a transposing
// copy); K > 1 reads a contiguous input in place when its reduced axes form
// one block (e.g. axis 0 of a matrix), with no copy.
struct ReducePlan {
  Shape keep_shape;  // reduced axes kept as 1
  Shape out_shape;   // as requested (keepdim or not)
  int64_t outer = 1, inner = 1;  // A * K and R
  int64_t A = 1, R = 1, K = 1;
  Tensor rows;       // contiguous source, detached: (outer, inner) when K == 1
};

std::vector<bool> axis_mask(const Tensor& x, const std::vector<int64_t>& axes) {
  std::vector<bool> red(x.ndim(), axes.empty());
  for (auto a : axes) {
    int64_t d = wrap_axis(a, x.ndim());
    if (x.ndim() == 0) continue;
    if (red[d]) throw ValueError("reduction: repeated axis " + std::to_string(a));
    red[d] = true;
  }
  return red;
}

ReducePlan make_plan(const Tensor& x, const std::vector<int64_t>& axes, bool keepdim,
                     bool allow_columns = true) {
  ReducePlan p;
  auto red = axis_mask(x, axes);
  std::vector<int64_t> perm;
  for (int64_t d = 0; d < x.ndim(); ++d)
    if (!red[d]) {
      perm.push_back(d);
      p.outer *= x.shape()[d];
      p.keep_shape.push_back(x.shape()[d]);
      p.out_shape.push_back(x.shape()[d]);
    } else {
      p.keep_shape.push_back(1);
      if (keepdim) p.out_shape.push_back(1);
    }
  for (int64_t d = 0; d < x.ndim(); ++d)
    if (red[d]) {
      perm.push_back(d);
      p.inner *= x.shape()[d];
    }
  Tensor xd = x.detach();
  if (allow_columns && x.is_contiguous() && x.numel() > 0) {
    // reduced axes of size > 1 must be one block [first, last]
    int64_t first = -1, last = -1;
    bool block = true;
    for (int64_t d = 0; d < x.ndim(); ++d)
      if (red[d] && x.shape()[d] != 1) {
        if (first < 0) first = d;
        last = d;
      }
    for (int64_t d = first; first >= 0 && d <= last; ++d)
      if (!red[d] && x.shape()[d] != 1) block = false;
    if (first >= 0 && block) {
      int64_t A = 1, K = 1;
      for (int64_t d = 0; d < first; ++d) A *= x.shape()[d];
      for (int64_t d = last + 1; d < x.ndim(); ++d) K *= x.shape()[d];
      if (K > 1) {
        p.A = A;
        p.R = p.inner;
        p.K = K;
        p.rows = xd;
        return p;
      }
    }
  }
  if (x.ndim() > 0) xd = xd.permute(perm);
  p.rows = xd.contiguous().reshape({p.outer, p.inner});
  p.A = p.outer;
  p.R = p.inner;
  p.K = 1;
  return p;
}

// Reduces row[0, n) starting from init. Sixteen independent accumulators,
// merged at the end, break the serial dependency of one running value (and
// let the compiler vectorise); f must be associative up to rounding.
template <typename T, typename Acc, typename F, typename Merge>
inline Acc reduce_span(const T* row, int64_t n, Acc init, F& f, Merge& merge) {
  constexpr int L = 16;
  Acc a = init;
  int64_t i = 0;
  if (n >= 2 * L) {
    Acc acc[L];
    for (int j = 0; j < L; ++j) acc[j] = init;
    for (; i + L <= n; i += L)
      for (int j = 0; j < L; ++j) acc[j] = f(acc[j], row[i + j], i + j);
    for (int w = L / 2; w > 0; w /= 2)  // pairwise merge
      for (int j = 0; j < w; ++j) acc[j] = merge(acc[j], acc[j + w]);
    a = acc[0];
  }
  for (; i < n; ++i) a = f(a, row[i], i);
  return a;
}

// Reduces each row of `rows` (outer x inner) with acc = f(acc, v), in parallel
// over rows, or over chunks of one row when there are few rows.
template <typename T, typename Acc, typename F, typename Merge>
void reduce_rows(const T* src, int64_t outer, int64_t inner, Acc init, F f, Merge merge, Acc* out) {
  if (outer >= num_threads() || inner < 65536) {
    parallel_for(outer, std::max<int64_t>(1, 16384 / std::max<int64_t>(inner, 1)),
                 [&](int64_t b, int64_t e) {
                   for (int64_t r = b; r < e; ++r)
                     out[r] = reduce_span<T, Acc>(src + r * inner, inner, init, f, merge);
                 });
    return;
  }
  const int64_t chunk = 65536;
  int64_t nchunks = (inner + chunk - 1) / chunk;
  std::vector<Acc> partial(outer * nchunks, init);
  parallel_for(outer * nchunks, 1, [&](int64_t b, int64_t e) {
    for (int64_t c = b; c < e; ++c) {
      int64_t r = c / nchunks, k = c % nchunks;
      int64_t i0 = k * chunk, n = std::min(inner, i0 + chunk) - i0;
      partial[c] = reduce_span<T, Acc>(src + r * inner + i0, n, init, f, merge);
    }
  });
  for (int64_t r = 0; r < outer; ++r) {
    Acc acc = init;
    for (int64_t k = 0; k < nchunks; ++k) acc = merge(acc, partial[r * nchunks + k]);
    out[r] = acc;
  }
}

// Reduces the plan's (A, R, K) source over R into out[A * K].
template <typename T, typename Acc, typename F, typename Merge>
void reduce_plan(const ReducePlan& p, Acc init, F f, Merge merge, Acc* out) {
  const T* src = p.rows.data<T>();
  if (p.K == 1) {
    reduce_rows<T, Acc>(src, p.A, p.R, init, f, merge, out);
    return;
  }
  // Columns: each task owns a block of up to KB outputs of one a, walks the R
  // rows in memory order and accumulates (vectorises over k).
  const int64_t A = p.A, R = p.R, K = p.K, KB = 1024;
  const int64_t nkb = (K + KB - 1) / KB;
  int64_t grain = std::max<int64_t>(1, 32768 / std::max<int64_t>(1, R * std::min(K, KB)));
  parallel_for(A * nkb, grain, [&](int64_t b, int64_t e) {
    std::vector<Acc> acc((size_t)std::min(K, KB));
    for (int64_t t = b; t < e; ++t) {
      int64_t a = t / nkb, k0 = (t % nkb) * KB, n = std::min(K, k0 + KB) - k0;
      std::fill(acc.begin(), acc.begin() + n, init);
      const T* base = src + a * R * K + k0;
      for (int64_t r = 0; r < R; ++r) {
        const T* row = base + r * K;
        for (int64_t k = 0; k < n; ++k) acc[k] = f(acc[k], row[k], r);
      }
      std::copy(acc.begin(), acc.begin() + n, out + a * K + k0);
    }
  });
}

Tensor expand_grad(const Tensor& g, const Shape& keep_shape, const Shape& in_shape) {
  return g.reshape(keep_shape).expand(in_shape);
}

}  // namespace

Tensor sum(const Tensor& x, std::vector<int64_t> axes, bool keepdim) {
  DType dt = x.dtype();
  if (is_half(dt)) return sum(x.to(DType::Float32), axes, keepdim).to(dt);
  // Integer sums accumulate and return int64 (NumPy: the platform integer).
  if (dt == DType::Bool || dt == DType::UInt8 || dt == DType::Int32 || dt == DType::UInt32)
    return sum(x.to(DType::Int64), axes, keepdim);
  ReducePlan p = make_plan(x, axes, keepdim);
  Tensor out = Tensor::empty(p.out_shape, dt, x.device());
  if (x.device().is_gpu()) gpu::reduce(gpu::Reduce::Sum, out, p.rows, p.A, p.R, p.K);
  else SC_DISPATCH_NUMERIC(dt, "sum", {
    using T = scalar_t;
    using Acc = std::conditional_t<std::is_floating_point_v<T>, double, T>;
    std::vector<Acc> acc(p.outer);
    reduce_plan<T, Acc>(p, Acc(0), [](Acc a, T v, int64_t) { return a + (Acc)v; },
                        [](Acc a, Acc b) { return a + b; }, acc.data());
    T* o = out.data<T>();
    for (int64_t r = 0; r < p.outer; ++r) o[r] = (T)acc[r];
  });
  if (!is_floating(dt)) return out;
  Shape keep = p.keep_shape, in_shape = x.shape();
  return record_op1("sum", {x}, out, [=](const Grads& g) -> Grads {
    return {expand_grad(g[0], keep, in_shape)};
  });
}

Tensor mean(const Tensor& x, std::vector<int64_t> axes, bool keepdim) {
  Tensor xf = is_floating(x.dtype()) ? x : x.to(DType::Float32);
  auto red = axis_mask(x, axes);
  int64_t count = 1;
  for (int64_t d = 0; d < x.ndim(); ++d)
    if (red[d]) count *= x.shape()[d];
  return sum(xf, axes, keepdim) / (double)count;
}

Tensor norm(const Tensor& x, std::vector<int64_t> axes, bool keepdim) {
  Tensor xf = is_floating(x.dtype()) ? x : x.to(DType::Float32);
  Tensor out;
  {
    NoGradGuard no_grad;
    out = sqrt(sum(square(xf), axes, keepdim));
  }
  auto red = axis_mask(x, axes);
  Shape keep = x.shape();
  for (int64_t d = 0; d < x.ndim(); ++d)
    if (red[d]) keep[d] = 1;
  Tensor xd = xf.detach(), od = out.detach();
  // d|x|/dx = x / |x|, taken as 0 where |x| == 0 (the chain rule through
  // sqrt and square would give 0 * inf = NaN there).
  return record_op1("norm", {xf}, out, [=](const Grads& g) -> Grads {
    Tensor n = od.reshape(keep);
    Tensor zero = Tensor::scalar(0.0, n.dtype());
    Tensor is0 = compare(CompareOp::Eq, n, zero);
    Tensor safe = where(is0, Tensor::scalar(1.0, n.dtype()), n);
    return {where(is0, zero, xd * (g[0].reshape(keep) / safe))};
  });
}

static Tensor extreme(const Tensor& x, std::vector<int64_t> axes, bool keepdim, bool is_max) {
  const char* name = is_max ? "max" : "min";
  DType dt = x.dtype();
  if (x.numel() == 0) throw ValueError(std::string(name) + ": the tensor is empty (zero-size)");
  if (is_half(dt)) return extreme(x.to(DType::Float32), axes, keepdim, is_max).to(dt);
  if (dt == DType::Bool) return extreme(x.to(DType::UInt8), axes, keepdim, is_max).to(DType::Bool);
  ReducePlan p = make_plan(x, axes, keepdim);
  for (auto d : x.shape())
    if (d == 0) throw ValueError(std::string(name) + ": cannot reduce over a zero-size axis");
  Tensor out = Tensor::empty(p.out_shape, dt, x.device());
  if (x.device().is_gpu())
    gpu::reduce(is_max ? gpu::Reduce::Max : gpu::Reduce::Min, out, p.rows, p.A, p.R, p.K);
  else SC_DISPATCH_NUMERIC(dt, name, {
    using T = scalar_t;
    // Identity of max/min (every row starts from it; rows are never empty here).
    T init;
    if constexpr (std::is_floating_point_v<T>)
      init = is_max ? -std::numeric_limits<T>::infinity() : std::numeric_limits<T>::infinity();
    else
      init = is_max ? std::numeric_limits<T>::lowest() : std::numeric_limits<T>::max();
    // NaN wins, as in NumPy. Written as selects (no early returns) so the
    // column loop vectorises.
    // A NaN accumulator stays NaN since every comparison with it is false.
    auto pmax = [](T a, T b) {
      T r = b > a ? b : a;
      return b != b ? b : r;
    };
    auto pmin = [](T a, T b) {
      T r = b < a ? b : a;
      return b != b ? b : r;
    };
    std::vector<T> acc(p.outer);
    if (is_max)
      reduce_plan<T, T>(p, init, [&](T a, T v, int64_t) { return pmax(a, v); }, pmax, acc.data());
    else
      reduce_plan<T, T>(p, init, [&](T a, T v, int64_t) { return pmin(a, v); }, pmin, acc.data());
    std::copy(acc.begin(), acc.end(), out.data<T>());
  });
  if (!is_floating(dt)) return out;
  Shape keep = p.keep_shape, in_shape = x.shape();
  Tensor xd = x.detach(), od = out.detach();
  return record_op1(name, {x}, out, [=](const Grads& g) -> Grads {
    // Split the gradient evenly between tied extremes.
    Tensor hit = compare(CompareOp::Eq, xd, od.reshape(keep)).to(g[0].dtype());
    Tensor count = sum(hit, [&] {
      std::vector<int64_t> a;
      for (size_t d = 0; d < keep.size(); ++d)
        if (keep[d] == 1 && in_shape[d] != 1) a.push_back((int64_t)d);
      return a;
    }(), true);
    return {hit * (g[0].reshape(keep) / count)};
  });
}

Tensor max(const Tensor& x, std::vector<int64_t> axes, bool keepdim) { return extreme(x, axes, keepdim, true); }
Tensor min(const Tensor& x, std::vector<int64_t> axes, bool keepdim) { return extreme(x, axes, keepdim, false); }

static Tensor arg_extreme(const Tensor& x, std::optional<int64_t> axis, bool keepdim, bool is_max) {
  const char* name = is_max ? "argmax" : "argmin";
  if (x.numel() == 0) throw ValueError(std::string(name) + ": the tensor is empty (zero-size)");
  if (is_half(x.dtype()) || x.dtype() == DType::Bool)
    return arg_extreme(x.detach().to(DType::Float32), axis, keepdim, is_max);
  Tensor src = axis ? x : x.detach().reshape({x.numel()});
  int64_t ax = axis ? wrap_axis(*axis, x.ndim()) : 0;
  ReducePlan p = make_plan(src, {ax}, keepdim && axis.has_value(), /*allow_columns=*/false);
  Tensor out = Tensor::empty(axis ? p.out_shape : (keepdim ? Shape(x.ndim(), 1) : Shape{}), DType::Int64,
                             x.device());
  if (x.device().is_gpu()) {
    gpu::arg_reduce(is_max, out, p.rows, p.outer, p.inner);
    return out;
  }
  SC_DISPATCH_NUMERIC(src.dtype(), name, {
    using T = scalar_t;
    const T* rows = p.rows.data<T>();
    int64_t* o = out.data<int64_t>();
    int64_t inner = p.inner;
    parallel_for(p.outer, std::max<int64_t>(1, 16384 / std::max<int64_t>(inner, 1)), [&](int64_t b, int64_t e) {
      for (int64_t r = b; r < e; ++r) {
        const T* row = rows + r * inner;
        int64_t best = 0;
        for (int64_t i = 1; i < inner; ++i) {
          T v = row[i], bv = row[best];
          if (bv != bv) break;  // first NaN wins
          if (v != v || (is_max ? v > bv : v < bv)) best = i;
        }
        o[r] = best;
      }
    });
  });
  return out;
}

Tensor argmax(const Tensor& x, std::optional<int64_t> axis, bool keepdim) { return arg_extreme(x, axis, keepdim, true); }
Tensor argmin(const Tensor& x, std::optional<int64_t> axis, bool keepdim) { return arg_extreme(x, axis, keepdim, false); }

// ---- softmax ------------------------------------------------------------------------
static Tensor softmax_impl(const Tensor& x, int64_t axis, bool log_space) {
  const char* name = log_space ? "log_softmax" : "softmax";
  DType dt = x.dtype();
  if (is_half(dt)) return softmax_impl(x.to(DType::Float32), axis, log_space).to(dt);
  if (!is_floating(dt)) return softmax_impl(x.to(DType::Float32), axis, log_space);
  axis = wrap_axis(axis, x.ndim());
  if (x.ndim() == 0) return softmax_impl(x.reshape({1}), 0, log_space).reshape({});
  Tensor xd = x.detach().transpose(axis, -1).contiguous();
  int64_t inner = x.shape()[axis];
  int64_t outer = inner ? xd.numel() / inner : 0;
  Tensor y = Tensor::empty(xd.shape(), dt, x.device());
  if (x.device().is_gpu()) gpu::softmax(y, xd, outer, inner, log_space);
  else SC_DISPATCH_FLOAT(dt, name, {
    using T = scalar_t;
    const T* src = xd.data<T>();
    T* dst = y.data<T>();
    parallel_for(outer, std::max<int64_t>(1, 8192 / std::max<int64_t>(inner, 1)), [&](int64_t b, int64_t e) {
      for (int64_t r = b; r < e; ++r) {
        const T* in = src + r * inner;
        T* out = dst + r * inner;
        T m = -std::numeric_limits<T>::infinity();
        for (int64_t i = 0; i < inner; ++i) m = in[i] > m ? in[i] : m;
        if (m == -std::numeric_limits<T>::infinity()) m = 0;
        T s = 0;
        if (log_space) {
          for (int64_t i = 0; i < inner; ++i) s += sc_exp(in[i] - m);
          // (x - m) - log(s): subtracting m first keeps the precision that
          // x - (m + log s) would lose when |m| is large.
          T ls = std::log(s);
          for (int64_t i = 0; i < inner; ++i) out[i] = (in[i] - m) - ls;
        } else {
          for (int64_t i = 0; i < inner; ++i) out[i] = sc_exp(in[i] - m);  // vectorises
          for (int64_t i = 0; i < inner; ++i) s += out[i];
          T inv = T(1) / s;
          for (int64_t i = 0; i < inner; ++i) out[i] *= inv;
        }
      }
    });
  });
  Tensor out = y.transpose(axis, -1);
  Tensor yd = out.detach();
  return record_op1(name, {x}, out, [=](const Grads& g) -> Grads {
    if (log_space) return {g[0] - exp(yd) * sum(g[0], {axis}, true)};
    return {yd * (g[0] - sum(g[0] * yd, {axis}, true))};
  });
}

Tensor softmax(const Tensor& x, int64_t axis) { return softmax_impl(x, axis, false); }
Tensor log_softmax(const Tensor& x, int64_t axis) { return softmax_impl(x, axis, true); }

}  // namespace sc
