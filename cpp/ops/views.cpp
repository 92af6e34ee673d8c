// Views: new shape/strides over the same storage. Each records a backward.
#include <algorithm>

#include "autograd/function.h"
#include "ops/ops.h"

namespace sc {

using Grads = std::vector<Tensor>;

static Tensor make_view(const Tensor& t, const Shape& shape, const Shape& strides, int64_t offset) {
  return Tensor::from_storage(t.storage(), shape, strides, offset, t.dtype());
}

Shape infer_reshape(const Shape& requested, int64_t numel, const Shape& from) {
  Shape s = requested;
  int64_t known = 1, infer = -1;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == -1) {
      if (infer >= 0) throw ValueError("reshape: only one dimension can be -1, got " + shape_str(requested));
      infer = (int64_t)i;
    } else if (s[i] < 0) {
      throw ValueError("reshape: invalid dimension in " + shape_str(requested));
    } else {
      known *= s[i];
    }
  }
  if (infer >= 0) {
    if (known == 0 || numel % known != 0)
      throw ValueError("reshape: cannot reshape a tensor of shape " + shape_str(from) + " into " +
                       shape_str(requested));
    s[infer] = numel / known;
  }
  if (numel_of(s) != numel)
    throw ValueError("reshape: cannot reshape a tensor of shape " + shape_str(from) + " (" +
                     std::to_string(numel) + " elements) into " + shape_str(requested));
  return s;
}

// Strides that view (old_shape, old_strides) as new_shape without a copy, if
// any exist (NumPy's _attempt_nocopy_reshape): each group of old dims merged
// into / split from new dims must itself be contiguous.
static bool view_strides(const Shape& old_shape, const Shape& old_strides, const Shape& new_shape,
                         Shape& out) {
  Shape od, os;  // old dims without the size-1 ones
  for (size_t i = 0; i < old_shape.size(); ++i)
    if (old_shape[i] != 1) {
      od.push_back(old_shape[i]);
      os.push_back(old_strides[i]);
    }
  const size_t ol = od.size(), nl = new_shape.size();
  out.assign(nl, 1);
  size_t oi = 0, oj = 1, ni = 0, nj = 1;
  while (ni < nl && oi < ol) {
    int64_t np_ = new_shape[ni], op = od[oi];
    while (np_ != op) {
      if (np_ < op) np_ *= new_shape[nj++];
      else op *= od[oj++];
    }
    for (size_t k = oi; k + 1 < oj; ++k)
      if (os[k] != od[k + 1] * os[k + 1]) return false;
    out[nj - 1] = os[oj - 1];
    for (size_t k = nj - 1; k > ni; --k) out[k - 1] = out[k] * new_shape[k];
    ni = nj++;
    oi = oj++;
  }
  for (size_t k = ni; k < nl; ++k) out[k] = ni > 0 ? out[ni - 1] : 1;  // trailing size-1 dims
  return true;
}

Tensor Tensor::reshape(Shape shape) const {
  Shape s = infer_reshape(shape, numel(), this->shape());
  if (s == this->shape()) return *this;
  Shape st;
  Tensor out;
  Tensor src = *this;
  if (numel() == 0 || is_contiguous()) {
    out = make_view(src, s, contiguous_strides(s), src.offset());
  } else if (view_strides(this->shape(), strides(), s, st)) {
    out = make_view(src, s, st, src.offset());
  } else {
    src = contiguous();
    out = make_view(src, s, contiguous_strides(s), src.offset());
  }
  Shape orig = this->shape();
  return record_op1("reshape", {src}, out, [orig](const Grads& g) -> Grads {
    return {g[0].reshape(orig)};
  });
}

Tensor Tensor::permute(std::vector<int64_t> dims) const {
  int64_t nd = ndim();
  if ((int64_t)dims.size() != nd)
    throw ValueError("permute: expected " + std::to_string(nd) + " axes, got " + shape_str(dims));
  std::vector<bool> seen(nd, false);
  Shape sh(nd), st(nd);
  for (int64_t i = 0; i < nd; ++i) {
    int64_t d = wrap_axis(dims[i], nd, "permute axis");
    if (seen[d]) throw ValueError("permute: repeated axis in " + shape_str(dims));
    seen[d] = true;
    dims[i] = d;
    sh[i] = shape()[d];
    st[i] = strides()[d];
  }
  Tensor out = make_view(*this, sh, st, offset());
  std::vector<int64_t> inv(nd);
  for (int64_t i = 0; i < nd; ++i) inv[dims[i]] = i;
  return record_op1("permute", {*this}, out, [inv](const Grads& g) -> Grads {
    return {g[0].permute(inv)};
  });
}

Tensor Tensor::transpose(int64_t a, int64_t b) const {
  std::vector<int64_t> d(ndim());
  for (int64_t i = 0; i < ndim(); ++i) d[i] = i;
  std::swap(d[wrap_axis(a, ndim())], d[wrap_axis(b, ndim())]);
  return permute(d);
}

Tensor Tensor::slice(int64_t axis, int64_t start, int64_t stop, int64_t step) const {
  axis = wrap_axis(axis, ndim());
  if (step == 0) throw ValueError("slice: step cannot be zero");
  int64_t len = shape()[axis];
  // Python slice semantics (start/stop already resolved by slice.indices()).
  auto clampi = [&](int64_t v, int64_t lo, int64_t hi) { return std::min(std::max(v, lo), hi); };
  if (step > 0) {
    start = clampi(start < 0 ? start + len : start, 0, len);
    stop = clampi(stop < 0 ? stop + len : stop, 0, len);
  } else {
    start = clampi(start < 0 ? start + len : start, -1, len - 1);
    stop = clampi(stop < -1 ? stop + len : stop, -1, len - 1);
  }
  int64_t n = step > 0 ? std::max<int64_t>(0, (stop - start + step - 1) / step)
                       : std::max<int64_t>(0, (start - stop + (-step) - 1) / (-step));
  Shape sh = shape(), st = strides();
  sh[axis] = n;
  st[axis] = strides()[axis] * step;
  int64_t off = offset() + (n > 0 ? start * strides()[axis] : 0);
  Tensor out = make_view(*this, sh, st, off);
  Shape in_shape = shape();
  DType dt = dtype();
  Device dev = device();
  return record_op1("slice", {*this}, out, [=](const Grads& g) -> Grads {
    Tensor gi = Tensor::zeros(in_shape, dt, dev);
    gi.slice(axis, start, stop, step).copy_from(g[0]);
    return {gi};
  });
}

Tensor Tensor::select(int64_t axis, int64_t index) const {
  axis = wrap_axis(axis, ndim());
  int64_t len = shape()[axis];
  if (index < -len || index >= len)
    throw IndexError("index " + std::to_string(index) + " is out of bounds for axis " +
                     std::to_string(axis) + " with size " + std::to_string(len));
  if (index < 0) index += len;
  Shape sh = shape(), st = strides();
  sh.erase(sh.begin() + axis);
  st.erase(st.begin() + axis);
  Tensor out = make_view(*this, sh, st, offset() + index * strides()[axis]);
  Shape in_shape = shape();
  DType dt = dtype();
  Device dev = device();
  return record_op1("select", {*this}, out, [=](const Grads& g) -> Grads {
    Tensor gi = Tensor::zeros(in_shape, dt, dev);
    gi.select(axis, index).copy_from(g[0]);
    return {gi};
  });
}

Tensor Tensor::expand(const Shape& requested) const {
  int64_t nd = (int64_t)requested.size();
  if (nd < ndim())
    throw ValueError("expand: cannot broadcast shape " + shape_str(shape()) + " to " +
                     shape_str(requested));
  Shape target = requested, st(nd, 0);
  for (int64_t i = 0; i < nd; ++i) {
    int64_t j = i - (nd - ndim());
    // -1 keeps an existing dimension (as in torch.expand); new ones need a size.
    if (target[i] == -1 && j >= 0) target[i] = shape()[j];
    if (target[i] < 0)
      throw ValueError("expand: invalid size " + std::to_string(requested[i]) + " in " +
                       shape_str(requested));
    if (j < 0) continue;
    if (shape()[j] == target[i]) st[i] = strides()[j];
    else if (shape()[j] == 1) st[i] = 0;
    else
      throw ValueError("expand: cannot broadcast shape " + shape_str(shape()) + " to " +
                       shape_str(requested));
  }
  if (target == shape()) return *this;
  Tensor out = make_view(*this, target, st, offset());
  Shape in_shape = shape();
  return record_op1("expand", {*this}, out, [in_shape](const Grads& g) -> Grads {
    return {sum_to(g[0], in_shape)};
  });
}

Tensor Tensor::unsqueeze(int64_t axis) const {
  axis = wrap_axis(axis, ndim() + 1);
  Shape s = shape();
  s.insert(s.begin() + axis, 1);
  return reshape(s);
}

Tensor Tensor::squeeze(int64_t axis) const {
  axis = wrap_axis(axis, ndim());
  if (shape()[axis] != 1)
    throw ValueError("squeeze: axis " + std::to_string(axis) + " has size " +
                     std::to_string(shape()[axis]) + ", expected 1");
  Shape s = shape();
  s.erase(s.begin() + axis);
  return reshape(s);
}

}  // namespace sc
