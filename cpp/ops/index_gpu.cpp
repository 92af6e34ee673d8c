#include "ops/index_gpu.h"

#include "autograd/function.h"
#include "gpu/ops/gpu_ops.h"
#include "ops/index.h"
#include "ops/ops.h"

namespace sc {

using Grads = std::vector<Tensor>;

namespace {

// The index as contiguous int64 on x's device (a CPU index is uploaded).
Tensor device_index(const Tensor& index, const Tensor& x, const char* op) {
  DType dt = index.dtype();
  if (dt == DType::Bool || is_floating(dt))
    throw TypeError(std::string(op) + ": index must be an integer tensor (int32 or int64), got " +
                    dtype_name(dt));
  if (index.device() != x.device() && index.device().type != DeviceType::CPU)
    throw ValueError(std::string(op) + ": the index is on " + index.device().str() + " and x on " +
                     x.device().str());
  return index.detach().to_device(x.device()).to(DType::Int64).contiguous();
}

// zeros(shape) on g's device with g added at idx along axis (half types in float32).
Tensor scatter_into_zeros_gpu(const Shape& shape, int64_t axis, const Tensor& g, const Tensor& idx,
                              bool along_only) {
  DType dt = g.dtype();
  DType acc = is_half(dt) ? DType::Float32 : dt;
  Tensor gd = g.detach().to(acc);
  Tensor out = Tensor::zeros(shape, acc, g.device());
  gpu::scatter_add(out, gd, idx, axis, g.shape(), along_only);
  return acc == dt ? out : out.to(dt);
}

}  // namespace

Tensor index_select_gpu(const Tensor& x, int64_t axis, const Tensor& index) {
  Tensor idx = device_index(index, x, "index_select");
  Shape out_shape = x.shape();
  out_shape[axis] = index.numel();
  Tensor out = Tensor::empty(out_shape, x.dtype(), x.device());
  gpu::gather(out, x.detach(), idx, axis, out_shape, true);
  if (!is_floating(x.dtype())) return out;
  Shape in_shape = x.shape();
  return record_op1("index_select", {x}, out, [=](const Grads& g) -> Grads {
    return {scatter_into_zeros_gpu(in_shape, axis, g[0], idx, true)};
  });
}

Tensor gather_gpu(const Tensor& x, int64_t axis, const Tensor& index) {
  Tensor idx = device_index(index, x, "gather");
  Shape it = index.shape();
  Tensor out = Tensor::empty(it, x.dtype(), x.device());
  gpu::gather(out, x.detach(), idx, axis, it, false);
  if (!is_floating(x.dtype())) return out;
  Shape in_shape = x.shape();
  return record_op1("gather", {x}, out, [=](const Grads& g) -> Grads {
    return {scatter_into_zeros_gpu(in_shape, axis, g[0], idx, false)};
  });
}

Tensor scatter_add_gpu(const Tensor& x, int64_t axis, const Tensor& index, const Tensor& src) {
  if (src.device() != x.device())
    throw ValueError("scatter_add: src is on " + src.device().str() + " and x on " + x.device().str());
  Tensor idx = device_index(index, x, "scatter_add");
  DType dt = promote(x.dtype(), src.dtype());
  Tensor xc = x.to(dt), sc = src.to(dt);
  Tensor out = Tensor::empty(x.shape(), dt, x.device());
  out.copy_from(xc.detach());
  Shape it = index.shape(), src_shape = src.shape();
  gpu::scatter_add(out, sc.detach(), idx, axis, it, false);
  if (!is_floating(dt)) return out;
  return record_op1("scatter_add", {xc, sc}, out, [=](const Grads& g) -> Grads {
    // grad_src[o, j, i] = g[o, idx, i] over the index's extent, zero elsewhere.
    Tensor gs = Tensor::empty(it, g[0].dtype(), g[0].device());
    gpu::gather(gs, g[0].detach(), idx, axis, it, false);
    return {g[0], it == src_shape ? gs : embed_in_zeros(gs, src_shape)};
  });
}

Tensor nonzero_gpu(const Tensor& mask) {
  return nonzero_1d(mask.detach().to_device(Device{})).to_device(mask.device());
}

}  // namespace sc
