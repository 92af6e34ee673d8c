#include "splat/densify_stats.h"

#include <cmath>
#include <string>

#include "core/dtype.h"
#include "core/errors.h"
#include "core/thread_pool.h"
#include "core/writable.h"
#include "gpu/ops/gpu_ops.h"

namespace sc {

void accumulate_grad2d(const Tensor& grad2d, const Tensor& radii, double scale_x, double scale_y,
                       Tensor& grad_sum, Tensor& count) {
  const char* f = "accumulate_grad2d: ";
  if (grad2d.ndim() != 2 || grad2d.shape()[1] != 2)
    throw ValueError(std::string(f) + "grad2d must have shape (N, 2), got " + shape_str(grad2d.shape()));
  if (grad2d.dtype() != DType::Float32 && grad2d.dtype() != DType::Float64)
    throw TypeError(std::string(f) + "grad2d must be float32 or float64, got " + dtype_name(grad2d.dtype()));
  int64_t n = grad2d.shape()[0];
  if (radii.ndim() != 2 || radii.shape()[0] != n || radii.shape()[1] != 2 || radii.dtype() != DType::Int32)
    throw ValueError(std::string(f) + "radii must be int32 of shape (" + std::to_string(n) + ", 2), got " +
                     dtype_name(radii.dtype()) + " " + shape_str(radii.shape()));
  check_writable(grad_sum, "accumulate_grad2d: grad_sum");
  check_writable(count, "accumulate_grad2d: count");
  const Device dev = grad2d.device();
  // float64 sums; on a GPU device float32 ones too, beside float32 gradients (Metal)
  const bool f32_sums = dev.is_gpu() && grad2d.dtype() == DType::Float32 && grad_sum.dtype() == DType::Float32;
  const DType sum_dtype = f32_sums ? DType::Float32 : DType::Float64;
  for (const Tensor* t : {&grad_sum, &count})
    if (t->ndim() != 1 || t->shape()[0] != n || t->dtype() != sum_dtype || !t->is_contiguous() ||
        t->storage()->readonly)
      throw ValueError(std::string(f) + (t == &grad_sum ? "grad_sum" : "count") + " must be a writable contiguous " +
                       dtype_name(sum_dtype) + " array of shape (" + std::to_string(n) + ",), got " +
                       dtype_name(t->dtype()) + " " + shape_str(t->shape()));
  for (const Tensor* t : {&radii, (const Tensor*)&grad_sum, (const Tensor*)&count})
    if (t->device() != dev)
      throw ValueError(std::string(f) + "every tensor must be on one device: grad2d is on " + dev.str() + ", " +
                       (t == &radii ? "radii" : t == &grad_sum ? "grad_sum" : "count") + " on " + t->device().str());
  Tensor g = grad2d.contiguous();
  Tensor r = radii.contiguous();
  if (dev.is_gpu()) {  // one kernel (gpu/kernels/optim.h)
    gpu::accumulate_grad2d(g, r, scale_x, scale_y, grad_sum, count);
    return;
  }
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
