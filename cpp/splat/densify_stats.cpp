#include "splat/densify_stats.h"

#include <cmath>
#include <string>

#include "core/dtype.h"
#include "core/errors.h"
#include "core/thread_pool.h"
#include "core/writable.h"

namespace sc {

void accumulate_grad2d(const Tensor& grad2d, const Tensor& radii, double scale_x, double scale_y,
                       Tensor& grad_sum, Tensor& count) {
  const char* f = "accumulate_grad2d: ";
  if (grad2d.ndim() != 2 || grad2d.shape()[1] != 2)
    throw ValueError(std::string(f) + "grad2d must have shape (N, 2), got " + shape_str(grad2d.shape()));
  int64_t n = grad2d.shape()[0];
  if (radii.ndim() != 2 || radii.shape()[0] != n || radii.shape()[1] != 2 || radii.dtype() != DType::Int32)
    throw ValueError(std::string(f) + "radii must be int32 of shape (" + std::to_string(n) + ", 2), got " +
                     dtype_name(radii.dtype()) + " " + shape_str(radii.shape()));
  check_writable(grad_sum, "accumulate_grad2d: grad_sum");
  check_writable(count, "accumulate_grad2d: count");
  for (const Tensor* t : {&grad_sum, &count})
    if (t->ndim() != 1 || t->shape()[0] != n || t->dtype() != DType::Float64 || !t->is_contiguous() ||
        t->storage()->readonly)
      throw ValueError(std::string(f) + (t == &grad_sum ? "grad_sum" : "count") +
                       " must be a writable contiguous float64 array of shape (" + std::to_string(n) +
                       ",), got " + dtype_name(t->dtype()) + " " + shape_str(t->shape()));
  Tensor g = grad2d.contiguous();
  Tensor r = radii.contiguous();
  const int32_t* rad = r.data<int32_t>();
  double* sum = grad_sum.data<double>();
  double* cnt = count.data<double>();
  SC_DISPATCH_FLOAT(g.dtype(), "accumulate_grad2d", {
    const scalar_t* v = g.data<scalar_t>();
    parallel_for(n, 16384, [&](int64_t b, int64_t e) {
      for (int64_t i = b; i < e; ++i) {
        if (rad[2 * i] <= 0 && rad[2 * i + 1] <= 0) continue;
        sum[i] += std::hypot(double(v[2 * i]) * scale_x, double(v[2 * i + 1]) * scale_y);
        cnt[i] += 1.0;
      }
    });
  });
}

}  // namespace sc
