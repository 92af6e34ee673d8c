// Scans: cumsum along one axis (float32 accumulates in double), backward is
// the reversed cumsum of the gradient.
#include <algorithm>

#include "autograd/function.h"
#include "core/thread_pool.h"
#include "gpu/ops/gpu_ops.h"
#include "ops/ops.h"

namespace sc {

using Grads = std::vector<Tensor>;

namespace {

// out = cumsum(x) along axis (reverse: from the end), x of dtype T viewed as
// contiguous (outer, n, inner). Parallel over (outer, block of inner): each
// task owns whole columns, so the running sums never cross tasks.
template <typename T>
void scan_kernel(const T* x, T* out, int64_t outer, int64_t n, int64_t inner, bool reverse) {
  using Acc = std::conditional_t<std::is_floating_point_v<T>, double, T>;
  const int64_t CH = 256;
  if (outer == 0 || n == 0 || inner == 0) return;
  const int64_t nch = (inner + CH - 1) / CH;
  const int64_t per_task = n * std::min(inner, CH);
  parallel_for(outer * nch, std::max<int64_t>(1, 32768 / per_task), [&](int64_t b, int64_t e) {
    Acc acc[CH];
    for (int64_t t = b; t < e; ++t) {
      const int64_t o = t / nch, i0 = (t % nch) * CH, w = std::min(inner, i0 + CH) - i0;
      const T* xs = x + o * n * inner + i0;
      T* os = out + o * n * inner + i0;
      for (int64_t i = 0; i < w; ++i) acc[i] = Acc(0);
      for (int64_t s = 0; s < n; ++s) {
        const int64_t j = reverse ? n - 1 - s : s;
        const T* xr = xs + j * inner;
        T* orow = os + j * inner;
        for (int64_t i = 0; i < w; ++i) {
          acc[i] += (Acc)xr[i];
          orow[i] = (T)acc[i];
        }
      }
    }
  });
}

// Raw scan on a numeric (non-half, non-bool) tensor; no autograd.
Tensor scan(const Tensor& x, int64_t axis, bool reverse) {
  Tensor xc = x.detach().contiguous();
  int64_t outer = 1, inner = 1;
  for (int64_t d = 0; d < axis; ++d) outer *= x.shape()[d];
  for (int64_t d = axis + 1; d < x.ndim(); ++d) inner *= x.shape()[d];
  Tensor out = Tensor::empty(x.shape(), x.dtype(), x.device());
  if (x.device().is_gpu()) {
    gpu::cumsum(out, xc, outer, x.shape()[axis], inner, reverse);
    return out;
  }
  SC_DISPATCH_NUMERIC(x.dtype(), "cumsum",
                      scan_kernel<scalar_t>(xc.data<scalar_t>(), out.data<scalar_t>(), outer,
                                            x.shape()[axis], inner, reverse));
  return out;
}

}  // namespace

Tensor cumsum(const Tensor& x, int64_t axis) {
  // NumPy treats a 0-d input as 1-D.
  if (x.ndim() == 0) return cumsum(x.reshape({1}), axis);
  axis = wrap_axis(axis, x.ndim());
  DType dt = x.dtype();
  // Integers stay integral, widened like NumPy's default accumulator.
  if (dt == DType::Bool || dt == DType::UInt8 || dt == DType::Int32 || dt == DType::UInt32)
    return cumsum(x.to(DType::Int64), axis);
  if (is_half(dt)) return cumsum(x.to(DType::Float32), axis).to(dt);
  Tensor out = scan(x, axis, false);
  if (!is_floating(dt)) return out;
  return record_op1("cumsum", {x}, out, [=](const Grads& g) -> Grads {
    // d/dx_k sum_j g_j y_j = sum_{j >= k} g_j
    return {scan(g[0], axis, true)};
  });
}

}  // namespace sc
