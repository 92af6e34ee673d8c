// Joining: concat along an existing axis, stack along a new one.
#include <string>

#include "autograd/function.h"
#include "ops/ops.h"

namespace sc {

using Grads = std::vector<Tensor>;

Tensor concat(const std::vector<Tensor>& xs, int64_t axis) {
  if (xs.empty()) throw ValueError("concat: need at least one tensor to concatenate, got an empty list");
  const Tensor& first = xs[0];
  if (first.ndim() == 0)
    throw ValueError("concat: zero-dimensional tensors cannot be concatenated (input 0 has shape ())");
  const int64_t nd = first.ndim();
  axis = wrap_axis(axis, nd);
  DType dt = first.dtype();
  int64_t total = 0;
  for (size_t k = 0; k < xs.size(); ++k) {
    const Tensor& x = xs[k];
    if (x.ndim() != nd)
      throw ValueError("concat: all inputs must have the same number of dimensions; input 0 has shape " +
                       shape_str(first.shape()) + " but input " + std::to_string(k) + " has shape " +
                       shape_str(x.shape()));
    for (int64_t d = 0; d < nd; ++d)
      if (d != axis && x.shape()[d] != first.shape()[d])
        throw ValueError("concat: input shapes must match except along axis " + std::to_string(axis) +
                         "; input 0 has shape " + shape_str(first.shape()) + " but input " +
                         std::to_string(k) + " has shape " + shape_str(x.shape()));
    if (x.device() != first.device())
      throw ValueError("concat: input " + std::to_string(k) + " is on " + x.device().str() +
                       ", input 0 on " + first.device().str());
    if (k > 0) dt = promote(dt, x.dtype());
    total += x.shape()[axis];
  }
  // Cast first (differentiable), so each backward slice has its input's dtype.
  std::vector<Tensor> ins;
  ins.reserve(xs.size());
  for (const auto& x : xs) ins.push_back(x.to(dt));
  Shape out_shape = first.shape();
  out_shape[axis] = total;
  Tensor out = Tensor::empty(out_shape, dt, first.device());
  std::vector<int64_t> starts;
  int64_t off = 0;
  for (const auto& x : ins) {
    int64_t n = x.shape()[axis];
    starts.push_back(off);
    if (n > 0) out.slice(axis, off, off + n).copy_from(x.detach());  // strided, parallel copy
    off += n;
  }
  if (!is_floating(dt)) return out;
  std::vector<int64_t> lens;
  for (const auto& x : ins) lens.push_back(x.shape()[axis]);
  return record_op1("concat", ins, out, [=](const Grads& g) -> Grads {
    Grads gs;
    for (size_t k = 0; k < starts.size(); ++k) gs.push_back(g[0].slice(axis, starts[k], starts[k] + lens[k]));
    return gs;
  });
}

Tensor stack(const std::vector<Tensor>& xs, int64_t axis) {
  if (xs.empty()) throw ValueError("stack: need at least one tensor to stack, got an empty list");
  const Shape& s0 = xs[0].shape();
  for (size_t k = 1; k < xs.size(); ++k)
    if (xs[k].shape() != s0)
      throw ValueError("stack: all inputs must have the same shape; input 0 has shape " + shape_str(s0) +
                       " but input " + std::to_string(k) + " has shape " + shape_str(xs[k].shape()));
  axis = wrap_axis(axis, xs[0].ndim() + 1);
  // A new axis of size 1 on each input (a differentiable view), then concat.
  std::vector<Tensor> us;
  us.reserve(xs.size());
  for (const auto& x : xs) us.push_back(x.unsqueeze(axis));
  return concat(us, axis);
}

}  // namespace sc
