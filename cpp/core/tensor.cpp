#include "core/tensor.h"

#include <cmath>
#include <cstring>
#include <numeric>
#include <sstream>

#include "autograd/function.h"
#include "core/convert.h"
#include "core/strided_loop.h"
#include "ops/ops.h"

namespace sc {

int64_t numel_of(const Shape& s) {
  int64_t n = 1;
  for (auto d : s) n *= d;
  return n;
}

Shape contiguous_strides(const Shape& s) {
  Shape st(s.size());
  int64_t acc = 1;
  for (int64_t i = (int64_t)s.size() - 1; i >= 0; --i) {
    st[i] = acc;
    acc *= std::max<int64_t>(s[i], 1);
  }
  return st;
}

int64_t wrap_axis(int64_t axis, int64_t ndim, const char* what) {
  int64_t lim = std::max<int64_t>(ndim, 1);
  if (axis < -lim || axis >= lim)
    throw IndexError(std::string(what) + " " + std::to_string(axis) +
                     " is out of range for a tensor of " + std::to_string(ndim) + " dimensions");
  return axis < 0 ? axis + lim : axis;
}

static void check_shape(const Shape& shape) {
  for (auto d : shape)
    if (d < 0) throw ValueError("shape: dimensions must be >= 0, got " + shape_str(shape));
}

Tensor Tensor::empty(const Shape& shape, DType dtype, Device device) {
  check_shape(shape);
  auto impl = std::make_shared<TensorImpl>();
  impl->storage = Storage::allocate(numel_of(shape) * itemsize(dtype), device);
  impl->shape = shape;
  impl->strides = contiguous_strides(shape);
  impl->dtype = dtype;
  return Tensor(impl);
}

Tensor Tensor::full(const Shape& shape, double value, DType dtype, Device device) {
  Tensor t = empty(shape, dtype, device);
  int64_t n = t.numel();
  SC_DISPATCH_STORAGE(dtype, {
    scalar_t v = convert<scalar_t>(value);
    scalar_t* p = t.data<scalar_t>();
    parallel_for(n, 1 << 16, [&](int64_t b, int64_t e) {
      for (int64_t i = b; i < e; ++i) p[i] = v;
    });
  });
  return t;
}

Tensor Tensor::zeros(const Shape& shape, DType dtype, Device device) {
  Tensor t = empty(shape, dtype, device);
  std::memset(t.raw(), 0, t.numel() * itemsize(dtype));
  return t;
}

Tensor Tensor::ones(const Shape& shape, DType dtype, Device device) {
  return full(shape, 1.0, dtype, device);
}

Tensor Tensor::scalar(double value, DType dtype) { return full({}, value, dtype); }

Tensor Tensor::from_storage(std::shared_ptr<Storage> s, const Shape& shape, const Shape& strides,
                            int64_t offset, DType dtype) {
  auto impl = std::make_shared<TensorImpl>();
  impl->storage = std::move(s);
  impl->shape = shape;
  impl->strides = strides;
  impl->offset = offset;
  impl->dtype = dtype;
  return Tensor(impl);
}

int64_t Tensor::size(int64_t axis) const { return shape()[wrap_axis(axis, ndim())]; }

bool Tensor::is_contiguous() const {
  int64_t acc = 1;
  for (int64_t i = ndim() - 1; i >= 0; --i) {
    if (shape()[i] != 1 && strides()[i] != acc) return false;
    acc *= shape()[i];
  }
  return true;
}

// Copies src (already broadcast to dst's shape, any dtype) into dst.
static void copy_strided(const Tensor& dst, const Tensor& src) {
  SC_DISPATCH_STORAGE(dst.dtype(), {
    using D = scalar_t;
    SC_DISPATCH_STORAGE(src.dtype(), {
      using S = scalar_t;
      strided_for_each<2>(
          dst.shape(), {&dst.strides(), &src.strides()}, {(char*)dst.raw(), (char*)src.raw()},
          {(int64_t)sizeof(D), (int64_t)sizeof(S)},
          [](int64_t n, const std::array<char*, 2>& p, const std::array<int64_t, 2>& s) {
            D* d = (D*)p[0];
            const S* x = (const S*)p[1];
            if (s[0] == 1 && s[1] == 1) {
              for (int64_t i = 0; i < n; ++i) d[i] = convert<D>(x[i]);
            } else {
              for (int64_t i = 0; i < n; ++i) d[i * s[0]] = convert<D>(x[i * s[1]]);
            }
          });
    });
  });
}

void Tensor::copy_from(const Tensor& src) {
  Tensor s = src.shape() == shape() ? src : src.detach().expand(shape());
  copy_strided(*this, s);
}

Tensor Tensor::contiguous() const {
  if (is_contiguous()) return *this;
  return clone();
}

Tensor Tensor::clone() const {
  Tensor out = empty(shape(), dtype(), device());
  copy_strided(out, *this);
  return record_op1("clone", {*this}, out,
                    [](const std::vector<Tensor>& g) -> std::vector<Tensor> { return {g[0]}; });
}

Tensor Tensor::to(DType dt) const {
  if (dt == dtype()) return *this;
  Tensor out = empty(shape(), dt, device());
  copy_strided(out, *this);
  if (!is_floating(dt) || !is_floating(dtype())) return out;
  DType src_dt = dtype();
  return record_op1("to", {*this}, out, [src_dt](const std::vector<Tensor>& g) -> std::vector<Tensor> {
    return {g[0].to(src_dt)};
  });
}

double Tensor::item() const {
  if (numel() != 1)
    throw ValueError("item: expected a one-element tensor, got shape " + shape_str(shape()));
  double v = 0;
  SC_DISPATCH_STORAGE(dtype(), { v = to_double(*data<scalar_t>()); });
  return v;
}

Tensor& Tensor::set_requires_grad(bool r) {
  if (r && !is_floating(dtype()))
    throw TypeError(std::string("requires_grad: only floating-point tensors can require "
                                "gradients, got ") + dtype_name(dtype()));
  if (!r && !is_leaf())
    throw ValueError("requires_grad: cannot turn off gradients of a non-leaf tensor; use detach()");
  impl_->requires_grad = r;
  return *this;
}

Tensor Tensor::detach() const {
  return from_storage(storage(), shape(), strides(), offset(), dtype());
}

// ---- repr -------------------------------------------------------------------
std::string Tensor::repr() const {
  std::ostringstream o;
  o << "Tensor(";
  Tensor c = detach().to(DType::Float64).contiguous();
  const double* p = c.data<double>();
  int64_t n = numel();
  bool integral = !is_floating(dtype());
  auto fmt = [&](double v) {
    std::ostringstream e;
    if (dtype() == DType::Bool) e << (v != 0 ? "True" : "False");
    else if (integral) e << (long long)v;
    else e << v;
    return e.str();
  };
  // nested brackets; elide the middle of long dimensions
  std::function<void(int64_t, int64_t, int)> rec = [&](int64_t dim, int64_t base, int indent) {
    if (dim == ndim()) {
      o << fmt(p[base]);
      return;
    }
    int64_t len = shape()[dim], stride = c.strides()[dim];
    o << "[";
    for (int64_t i = 0; i < len; ++i) {
      if (len > 6 && i == 3) {
        o << "..., ";
        i = len - 3;
      }
      rec(dim + 1, base + i * stride, indent + 1);
      if (i + 1 < len) {
        if (dim + 1 < ndim()) o << ",\n" << std::string(7 + indent + 1, ' ');
        else o << ", ";
      }
    }
    o << "]";
  };
  if (n == 0) o << "[]";
  else rec(0, 0, 0);
  o << ", shape=" << shape_str(shape()) << ", dtype=" << dtype_name(dtype());
  if (device().type != DeviceType::CPU) o << ", device=" << device().str();
  if (requires_grad()) o << (impl_->grad_fn ? ", grad_fn=" : ", requires_grad=True");
  if (impl_->grad_fn) o << impl_->grad_fn->name();
  o << ")";
  return o.str();
}

}  // namespace sc
