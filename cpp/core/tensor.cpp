#include "core/tensor.h"

#include <cmath>
#include <cstring>
#include <numeric>
#include <sstream>

#include "autograd/function.h"
#include "core/convert.h"
#include "core/strided_loop.h"
#include "gpu/ops/gpu_ops.h"
#include "gpu/runtime.h"
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

static void check_shape(const Shape& shape, DType dtype) {
  // Reject negative sizes and sizes whose byte count would overflow.
  const int64_t limit = (int64_t(1) << 62) / (int64_t)itemsize(dtype);
  int64_t n = 1;
  for (auto d : shape) {
    if (d < 0) throw ValueError("shape: dimensions must be >= 0, got " + shape_str(shape));
    if (d != 0 && n > limit / d)
      throw ValueError("shape: " + shape_str(shape) + " has too many elements");
    n *= d;
  }
}

Tensor Tensor::empty(const Shape& shape, DType dtype, Device device) {
  check_shape(shape, dtype);
  // Every device tensor is made here: a GPU without float64 (Metal) refuses it at creation.
  if (dtype == DType::Float64 && device.is_gpu() && !gpu::runtime(device).properties().float64)
    throw TypeError("float64 tensors cannot live on " + device.str() +
                    " (Metal GPUs have no 64-bit float): use float32");
  auto impl = std::make_shared<TensorImpl>();
  impl->storage = Storage::allocate(numel_of(shape) * itemsize(dtype), device);
  impl->shape = shape;
  impl->strides = contiguous_strides(shape);
  impl->dtype = dtype;
  return Tensor(impl);
}

Tensor Tensor::full(const Shape& shape, double value, DType dtype, Device device) {
  Tensor t = empty(shape, dtype, device);
  if (device.is_gpu()) {
    gpu::fill(t, value);
    return t;
  }
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
  if (device.is_gpu()) {
    gpu::fill(t, 0.0);
    return t;
  }
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

void Tensor::throw_not_on_cpu() const {
  throw ValueError("expected a tensor on the CPU, got one on " + device().str() +
                   ": this operation runs on the CPU only; move the tensor with .cpu() first");
}

// Copies src (already broadcast to dst's shape, any dtype) into dst.
static void copy_strided(const Tensor& dst, const Tensor& src) {
  if (dst.device().is_gpu() || src.device().is_gpu()) {
    gpu::copy(dst, src);
    return;
  }
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

// [first, last) byte addresses a tensor's elements can touch.
static std::pair<const char*, const char*> byte_span(const Tensor& t) {
  int64_t lo = 0, hi = 0;
  for (int64_t d = 0; d < t.ndim(); ++d) {
    int64_t ext = (t.shape()[d] - 1) * t.strides()[d];
    (ext < 0 ? lo : hi) += ext;
  }
  const char* base = static_cast<const char*>(t.device().is_gpu() ? gpu::gpu_address(t) : t.raw());
  int64_t isz = (int64_t)itemsize(t.dtype());
  return {base + lo * isz, base + (hi + 1) * isz};
}

static bool may_overlap(const Tensor& a, const Tensor& b) {
  if (a.numel() == 0 || b.numel() == 0 || a.device() != b.device()) return false;
  auto [a0, a1] = byte_span(a);
  auto [b0, b1] = byte_span(b);
  return a0 < b1 && b0 < a1;
}

void Tensor::copy_from(const Tensor& src) {
  if (storage()->readonly)
    throw ValueError("assignment destination is read-only (the tensor wraps read-only memory)");
  Tensor s = src.detach();
  // Reading and writing the same memory (t[1:] = t[:-1]): read from a copy.
  if (may_overlap(*this, s)) s = s.clone();
  if (s.shape() != shape()) s = s.expand(shape());
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

Tensor Tensor::to_device(Device d) const {
  if (d == device()) return *this;
  if (d.is_gpu()) gpu::runtime(d);  // ValueError naming the device when it is not there
  Tensor out = empty(shape(), dtype(), d);
  copy_strided(out, *this);
  Device src = device();
  return record_op1("to_device", {*this}, out, [src](const std::vector<Tensor>& g) -> std::vector<Tensor> {
    return {g[0].to_device(src)};
  });
}

double Tensor::item() const {
  if (numel() != 1)
    throw ValueError("item: expected a one-element tensor, got shape " + shape_str(shape()));
  if (device().is_gpu()) return detach().to_device(Device{}).item();
  double v = 0;
  SC_DISPATCH_STORAGE(dtype(), { v = to_double(*data<scalar_t>()); });
  return v;
}

int64_t Tensor::item_int() const {
  if (numel() != 1)
    throw ValueError("item: expected a one-element tensor, got shape " + shape_str(shape()));
  if (device().is_gpu()) return detach().to_device(Device{}).item_int();
  switch (dtype()) {
    case DType::Int64: return *data<int64_t>();
    case DType::Int32: return *data<int32_t>();
    case DType::UInt32: return *data<uint32_t>();
    case DType::UInt8: return *data<uint8_t>();
    case DType::Bool: return *data<bool>() ? 1 : 0;
    default: {
      double v = item();
      if (!(v >= -9.2233720368547758e18 && v < 9.2233720368547758e18))
        throw ValueError("item: " + std::to_string(v) + " does not fit in an integer");
      return (int64_t)v;
    }
  }
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
  // Values are read from `host`: self on the CPU, a copy of a GPU tensor.
  const Tensor host = device().is_gpu() ? detach().to_device(Device{}) : *this;
  std::ostringstream o;
  o << "Tensor(";
  int64_t n = numel();
  // Reads the element at `off` (elements from host.raw()) straight from storage:
  // on the CPU repr touches only the few elements it prints, never copies the tensor.
  auto fmt = [&](int64_t off) {
    std::ostringstream e;
    auto emit = [&](auto x) {
      using S = decltype(x);
      if constexpr (std::is_same_v<S, bool>) {
        e << (x ? "True" : "False");
      } else if constexpr (std::is_integral_v<S>) {
        e << (long long)x;
      } else {
        double v = to_double(x);
        if (std::isnan(v)) e << "nan";
        else if (std::isinf(v)) e << (v < 0 ? "-inf" : "inf");
        else {
          e << v;
          // floats keep a decimal point ("1." not "1") so they read as floats
          if (e.str().find_first_of(".eE") == std::string::npos) e << ".";
        }
      }
    };
    SC_DISPATCH_STORAGE(dtype(), { emit(host.data<scalar_t>()[off]); });
    return e.str();
  };
  // nested brackets; elide the middle of long dimensions
  std::function<void(int64_t, int64_t, int)> rec = [&](int64_t dim, int64_t base, int indent) {
    if (dim == ndim()) {
      o << fmt(base);
      return;
    }
    int64_t len = shape()[dim], stride = host.strides()[dim];
    o << "[";
    for (int64_t i = 0; i < len; ++i) {
      if (len > 6 && i == 3) {
        o << "...,";
        if (dim + 1 < ndim()) o << "\n" << std::string(7 + indent + 1, ' ');
        else o << " ";
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
