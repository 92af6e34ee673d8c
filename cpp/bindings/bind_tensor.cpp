// splatcore.Tensor: metadata, views, indexing, NumPy/DLPack, autograd, operators.
#include <nanobind/stl/optional.h>
#include <nanobind/stl/string.h>
#include <nanobind/stl/vector.h>

#include "autograd/function.h"
#include "autograd/node.h"
#include "bindings/bindings.h"
#include "gpu/runtime.h"
#include "core/writable.h"
#include "ops/ops.h"

namespace sc {

nb::object to_dlpack_ndarray(const Tensor& t);

static nb::tuple shape_tuple(const Shape& s) {
  nb::list l;
  for (auto d : s) l.append(d);
  return nb::tuple(l);
}

// ---- indexing ----------------------------------------------------------------
// A Python int or an integer scalar such as numpy.int64 (bool excluded).
static bool is_int_scalar(nb::handle h) {
  if (PyBool_Check(h.ptr())) return false;
  if (nb::isinstance<nb::int_>(h)) return true;
  if (nb::isinstance<Tensor>(h) || nb::isinstance<nb::list>(h)) return false;
  // NumPy integer scalars implement __index__ and, unlike arrays, have no length.
  return PyIndex_Check(h.ptr()) && !PySequence_Check(h.ptr()) && !nb::hasattr(h, "__len__");
}

static bool is_index_tensor(nb::handle h) {
  if (is_int_scalar(h)) return false;
  if (nb::isinstance<Tensor>(h)) return true;
  if (nb::isinstance<nb::list>(h)) return true;
  return nb::hasattr(h, "__array_interface__") || nb::hasattr(h, "__dlpack__");
}

// Basic indexing (ints, slices, None, Ellipsis) -> a view.
static Tensor basic_index(const Tensor& t, nb::handle key) {
  std::vector<nb::handle> items;
  if (nb::isinstance<nb::tuple>(key)) {
    for (nb::handle k : nb::borrow<nb::tuple>(key)) items.push_back(k);
  } else {
    items.push_back(key);
  }
  int64_t consumed = 0;
  bool has_ellipsis = false;
  for (auto k : items) {
    if (k.is(Py_Ellipsis)) {
      if (has_ellipsis) throw IndexError("an index can only have a single ellipsis ('...')");
      has_ellipsis = true;
    } else if (!k.is_none()) {
      ++consumed;
    }
  }
  if (consumed > t.ndim())
    throw IndexError("too many indices for tensor: tensor is " + std::to_string(t.ndim()) +
                     "-dimensional, but " + std::to_string(consumed) + " were indexed");
  Tensor r = t;
  int64_t axis = 0;
  for (auto k : items) {
    if (k.is(Py_Ellipsis)) {
      axis += t.ndim() - consumed;
    } else if (k.is_none()) {
      r = r.unsqueeze(axis);
      ++axis;
    } else if (nb::isinstance<nb::slice>(k)) {
      auto [start, stop, step, len] = nb::borrow<nb::slice>(k).compute((size_t)r.shape()[axis]);
      (void)stop;
      // From the resolved first index and count: a resolved start/stop of -1
      // means "before index 0" here, which Tensor::slice would read as "last".
      int64_t n = (int64_t)len, st = (int64_t)step, first = (int64_t)start;
      if (n == 0) r = r.slice(axis, 0, 0, 1);
      else r = r.slice(axis, first, first + st * (n - 1) + (st > 0 ? 1 : -1), st);
      ++axis;
    } else if (is_int_scalar(k)) {
      int64_t i;
      if (!nb::try_cast(k.attr("__index__")(), i))
        throw IndexError("index " + nb::cast<std::string>(nb::repr(k)) + " is out of bounds");
      if (axis >= r.ndim())
        throw IndexError("too many indices for tensor of dimension " + std::to_string(t.ndim()));
      r = r.select(axis, i);
    } else {
      throw IndexError("only integers, slices, None, '...', and (for a single index) bool or "
                       "integer tensors are valid indices; got " +
                       nb::cast<std::string>(nb::repr(k.type())));
    }
  }
  return r;
}

static Tensor getitem(const Tensor& t, nb::handle key) {
  if (is_index_tensor(key)) {
    Tensor idx = to_tensor(key, nullptr, "index");
    if (idx.dtype() == DType::Bool) return masked_select(t, idx);
    if (idx.ndim() == 0 && !is_floating(idx.dtype())) {
      if (t.ndim() == 0) throw IndexError("too many indices for tensor: tensor is 0-dimensional");
      return t.select(0, idx.item_int());
    }
    if (is_floating(idx.dtype()))
      throw IndexError("tensors used as indices must be integer or bool, got " +
                       std::string(dtype_name(idx.dtype())));
    if (idx.ndim() == 1) return index_select(t, 0, idx);
    Tensor flat = index_select(t, 0, idx.reshape({-1}));
    Shape s = idx.shape();
    s.insert(s.end(), t.shape().begin() + 1, t.shape().end());
    return flat.reshape(s);
  }
  return basic_index(t, key);
}

static void setitem(Tensor& t, nb::handle key, nb::handle value) {
  if (t.requires_grad() && grad_enabled())
    throw ValueError("setitem: in-place assignment to a tensor that requires grad; use "
                     "detach() or no_grad()");
  check_writable(t, "setitem");
  Tensor v = to_tensor(value, &t, "value");
  if (is_index_tensor(key)) {
    Tensor mask = to_tensor(key, nullptr, "index");
    if (mask.dtype() != DType::Bool)
      throw IndexError("setitem: only bool masks and basic indices can be assigned to");
    t.copy_from(where(mask, v.detach(), t.detach()));
    return;
  }
  Tensor view = basic_index(t.detach(), key);
  if (view.numel() == 0) return;
  broadcast_shapes(view.shape(), v.shape());
  view.copy_from(v.detach());
}

// ---- binary operators with Python scalars -----------------------------------
// An operand Python cannot turn into a tensor (None, a str, ...) returns
// NotImplemented, so Python applies its own rules: `t == None` is False,
// `t + None` raises the usual "unsupported operand" TypeError.
static bool operand(const Tensor& like, nb::handle h, Tensor& out) {
  try {
    out = to_tensor(h, &like);
    return true;
  } catch (const TypeError&) {
    return false;
  }
}
template <typename F>
static auto bin(F f) {
  return [f](const Tensor& a, nb::handle b) -> nb::object {
    Tensor tb;
    if (!operand(a, b, tb)) return nb::borrow(Py_NotImplemented);
    return nb::cast(f(a, tb));
  };
}
template <typename F>
static auto rbin(F f) {
  return [f](const Tensor& a, nb::handle b) -> nb::object {
    Tensor tb;
    if (!operand(a, b, tb)) return nb::borrow(Py_NotImplemented);
    return nb::cast(f(tb, a));
  };
}

// t op= other, in place as in NumPy and PyTorch: the result is written into
// t's memory (views and wrapped NumPy arrays see it). The result must keep t's
// shape; float results are not cast into integer tensors.
template <typename F>
static auto inplace(F f, const char* opname) {
  return [f, opname](nb::handle self, nb::handle b) -> nb::object {
    Tensor t = nb::cast<Tensor>(self);
    Tensor tb;
    if (!operand(t, b, tb)) return nb::borrow(Py_NotImplemented);
    if (t.requires_grad() && grad_enabled())
      throw ValueError(std::string(opname) + ": in-place update of a tensor that requires grad; "
                       "use detach() or no_grad()");
    check_writable(t, opname);
    Tensor r = f(t.detach(), tb.detach());
    if (r.shape() != t.shape())
      throw ValueError(std::string(opname) + ": result of shape " + shape_str(r.shape()) +
                       " cannot be written into a tensor of shape " + shape_str(t.shape()));
    if (is_floating(r.dtype()) && !is_floating(t.dtype()))
      throw TypeError(std::string(opname) + ": cannot write a " + dtype_name(r.dtype()) +
                      " result into a " + dtype_name(t.dtype()) + " tensor in place");
    t.copy_from(r);
    return nb::borrow(self);
  };
}

static std::vector<int64_t> axes_arg(nb::handle h) {
  if (h.is_none()) return {};
  return int_list(h, "axis");
}

void bind_tensor(nb::module_& m) {
  nb::class_<Tensor> cls(m, "Tensor",
                         "An n-dimensional array in the splatcore C++ core (strided, "
                         "with autograd).");
  // ndarray (op) Tensor defers to Tensor's reflected operator, so the result
  // stays a Tensor (and keeps autograd), as with torch.Tensor.
  cls.attr("__array_priority__") = 1000;
  cls.def("__init__", [](Tensor* self, nb::handle data, nb::handle dtype) {
       Tensor t = to_tensor(data, nullptr, "data");
       if (!dtype.is_none()) t = t.to(dtype_arg(dtype));
       new (self) Tensor(t);
     }, nb::arg("data"), nb::arg("dtype") = nb::none())
      .def_prop_ro("shape", [](const Tensor& t) { return shape_tuple(t.shape()); })
      .def_prop_ro("strides", [](const Tensor& t) { return shape_tuple(t.strides()); },
                   "Strides in elements (not bytes).")
      .def_prop_ro("ndim", &Tensor::ndim)
      .def_prop_ro("size", &Tensor::numel, "Number of elements.")
      .def_prop_ro("dtype", [](const Tensor& t) { return std::string(dtype_name(t.dtype())); })
      .def_prop_ro("itemsize", [](const Tensor& t) { return itemsize(t.dtype()); })
      .def_prop_ro("device", [](const Tensor& t) { return t.device().str(); })
      .def_prop_ro("data_ptr", [](const Tensor& t) {
        return t.device().is_gpu() ? (uintptr_t)gpu::gpu_address(t) : (uintptr_t)t.raw();
      }, "Address of the first element (the GPU address on a GPU device).")
      .def("__len__", [](const Tensor& t) {
        if (t.ndim() == 0) throw TypeError("len() of a 0-d tensor");
        return t.shape()[0];
      })
      .def("is_contiguous", &Tensor::is_contiguous)
      .def("contiguous", &Tensor::contiguous)
      .def("clone", &Tensor::clone)
      .def("astype", [](const Tensor& t, nb::handle dt) { return t.to(dtype_arg(dt)); }, nb::arg("dtype"))
      // to(dtype), to(device), to(device, dtype) or to(device=..., dtype=...)
      .def("to", [](const Tensor& t, nb::handle a, nb::handle b, nb::handle device, nb::handle dtype) {
        nb::handle dev = device, dt = dtype;
        for (nb::handle h : {a, b}) {
          if (h.is_none()) continue;
          bool is_device = false;
          if (nb::isinstance<nb::str>(h)) {
            try {
              Device::parse(nb::cast<std::string>(h));
              is_device = true;
            } catch (const ValueError&) {
            }
          }
          (is_device ? dev : dt) = h;
        }
        Tensor r = t;
        if (!dev.is_none()) r = r.to_device(device_arg(dev));
        if (!dt.is_none()) r = r.to(dtype_arg(dt));
        return r;
      }, nb::arg("a") = nb::none(), nb::arg("b") = nb::none(), nb::kw_only(), nb::arg("device") = nb::none(),
         nb::arg("dtype") = nb::none(), "A copy on another device and/or with another dtype (self when unchanged).")
      .def("cpu", [](const Tensor& t) { return t.to_device(Device{}); }, "A copy on the CPU (self when there).")
      .def("item", [](const Tensor& t) -> nb::object {
        if (t.dtype() == DType::Bool) return nb::bool_(t.item_int() != 0);
        if (!is_floating(t.dtype())) return nb::int_(t.item_int());
        return nb::float_(t.item());
      })
      .def("numpy", &to_numpy, "A NumPy array sharing this tensor's memory (no copy); for a tensor "
           "on a GPU device, a copy (which waits for the device).")
      .def("tolist", [](const Tensor& t) { return to_numpy(t.to(t.dtype() == DType::BFloat16 ? DType::Float32 : t.dtype())).attr("tolist")(); })
      .def("__array__", [](const Tensor& t, nb::handle dtype, nb::handle copy) {
        nb::object a = to_numpy(t);
        bool force = !copy.is_none() && nb::cast<bool>(copy);
        bool never = !copy.is_none() && !nb::cast<bool>(copy);
        if (!dtype.is_none()) {
          nb::object want = nb::module_::import_("numpy").attr("dtype")(dtype);
          if (!want.equal(a.attr("dtype"))) {
            if (never)
              throw ValueError("__array__: copy=False, but converting " +
                               std::string(dtype_name(t.dtype())) + " to " +
                               nb::cast<std::string>(nb::str(want)) + " needs a copy");
            return a.attr("astype")(want);
          }
        }
        return force ? a.attr("copy")() : a;
      }, nb::arg("dtype") = nb::none(), nb::arg("copy") = nb::none())
      .def("__dlpack__", [](const Tensor& t, nb::kwargs kw) {
        if (t.device().is_gpu()) {
          // The consumer reads after our queued work: wait for it (one sync per export).
          gpu::runtime(t.device()).synchronize();
          if (kw.contains("stream")) nb::del(kw["stream"]);
        }
        return to_dlpack_ndarray(t).attr("__dlpack__")(**kw);
      })
      .def("__dlpack_device__", [](const Tensor& t) {
        if (t.device().type == DeviceType::CUDA) return nb::make_tuple(2, t.device().index);  // kDLCUDA
        if (t.device().is_gpu())
          throw nb::buffer_error((std::string("__dlpack__: tensors on ") + t.device().str() + " cannot be shared; use .cpu()").c_str());
        return nb::make_tuple(1, 0);  // kDLCPU
      })
      .def_prop_ro("__cuda_array_interface__", [](const Tensor& t) { return cuda_array_interface(t); },
                   "Version 3 of the CUDA array interface (CuPy, Numba); CUDA tensors only.")
      // views
      .def("reshape", [](const Tensor& t, nb::args shape) {
        nb::handle h = shape.size() == 1 ? shape[0] : nb::handle(shape);
        return t.reshape(int_list(h, "shape"));
      })
      .def("view", [](const Tensor& t, nb::args shape) {
        nb::handle h = shape.size() == 1 ? shape[0] : nb::handle(shape);
        return t.reshape(int_list(h, "shape"));
      })
      .def("permute", [](const Tensor& t, nb::args dims) {
        nb::handle h = dims.size() == 1 ? dims[0] : nb::handle(dims);
        return t.permute(int_list(h, "dims"));
      })
      .def("transpose", [](const Tensor& t, nb::args dims) {
        if (dims.size() == 0) {
          std::vector<int64_t> d;
          for (int64_t i = t.ndim() - 1; i >= 0; --i) d.push_back(i);
          return t.permute(d);
        }
        if (dims.size() == 2) return t.transpose(nb::cast<int64_t>(dims[0]), nb::cast<int64_t>(dims[1]));
        nb::handle h = dims.size() == 1 ? dims[0] : nb::handle(dims);
        return t.permute(int_list(h, "axes"));
      })
      .def_prop_ro("T", [](const Tensor& t) {
        std::vector<int64_t> d;
        for (int64_t i = t.ndim() - 1; i >= 0; --i) d.push_back(i);
        return t.permute(d);
      })
      .def("expand", [](const Tensor& t, nb::args shape) {
        nb::handle h = shape.size() == 1 ? shape[0] : nb::handle(shape);
        return t.expand(int_list(h, "shape"));
      })
      .def("broadcast_to", [](const Tensor& t, nb::handle shape) { return t.expand(int_list(shape, "shape")); })
      .def("unsqueeze", &Tensor::unsqueeze, nb::arg("axis"))
      .def("squeeze", [](const Tensor& t, nb::handle axis) {
        if (!axis.is_none()) return t.squeeze(nb::cast<int64_t>(axis));
        Shape s;
        for (auto d : t.shape())
          if (d != 1) s.push_back(d);
        return t.reshape(s);
      }, nb::arg("axis") = nb::none())
      .def("flatten", [](const Tensor& t) { return t.reshape({-1}); })
      .def("__getitem__", &getitem)
      .def("__setitem__", &setitem)
      // autograd
      .def_prop_rw("requires_grad", &Tensor::requires_grad,
                   [](Tensor& t, bool r) { t.set_requires_grad(r); })
      .def("requires_grad_", [](Tensor& t, bool r) { t.set_requires_grad(r); return t; },
           nb::arg("requires_grad") = true)
      .def_prop_rw("grad", [](const Tensor& t) -> nb::object {
        Tensor g = t.grad();
        return g.defined() ? nb::cast(g) : nb::none();
      }, [](Tensor& t, nb::handle g) {
        if (g.is_none()) {
          t.set_grad(Tensor());
          return;
        }
        // Stored as given (optimizers check shapes and report them); backward
        // refuses to accumulate into a .grad of the wrong shape.
        t.set_grad(to_tensor(g, &t, "grad").detach());
      }, nb::arg("value").none())
      .def_prop_ro("grad_fn", [](const Tensor& t) -> nb::object {
        auto& fn = t.impl()->grad_fn;
        return fn ? nb::cast(fn->name()) : nb::none();
      })
      .def_prop_ro("is_leaf", &Tensor::is_leaf)
      .def("detach", &Tensor::detach)
      .def("backward", [](const Tensor& t, nb::handle g) {
        Tensor grad = g.is_none() ? Tensor() : to_tensor(g, &t, "grad");
        nb::gil_scoped_release nogil;
        t.backward(grad);
      }, nb::arg("grad") = nb::none())
      .def("__repr__", &Tensor::repr)
      .def("__bool__", [](const Tensor& t) {
        if (t.numel() != 1)
          throw ValueError("the truth value of a tensor with more than one element is ambiguous");
        return t.item() != 0;
      })
      .def("__float__", [](const Tensor& t) { return t.item(); })
      .def("__int__", [](const Tensor& t) { return t.item_int(); })
      // arithmetic
      .def("__add__", bin([](const Tensor& a, const Tensor& b) { return add(a, b); }), nb::arg("other").none())
      .def("__radd__", rbin([](const Tensor& a, const Tensor& b) { return add(a, b); }), nb::arg("other").none())
      .def("__sub__", bin([](const Tensor& a, const Tensor& b) { return sub(a, b); }), nb::arg("other").none())
      .def("__rsub__", rbin([](const Tensor& a, const Tensor& b) { return sub(a, b); }), nb::arg("other").none())
      .def("__mul__", bin([](const Tensor& a, const Tensor& b) { return mul(a, b); }), nb::arg("other").none())
      .def("__rmul__", rbin([](const Tensor& a, const Tensor& b) { return mul(a, b); }), nb::arg("other").none())
      .def("__truediv__", bin([](const Tensor& a, const Tensor& b) { return div(a, b); }), nb::arg("other").none())
      .def("__rtruediv__", rbin([](const Tensor& a, const Tensor& b) { return div(a, b); }), nb::arg("other").none())
      .def("__pow__", [](const Tensor& a, nb::handle b) -> nb::object {
        if (nb::isinstance<nb::float_>(b) || (nb::isinstance<nb::int_>(b) && !PyBool_Check(b.ptr())))
          if (is_floating(a.dtype())) return nb::cast(pow_scalar(a, nb::cast<double>(b)));
        Tensor tb;
        if (!operand(a, b, tb)) return nb::borrow(Py_NotImplemented);
        return nb::cast(pow(a, tb));
      }, nb::arg("other").none())
      .def("__rpow__", rbin([](const Tensor& a, const Tensor& b) { return pow(a, b); }), nb::arg("other").none())
      .def("__matmul__", bin([](const Tensor& a, const Tensor& b) { return matmul(a, b); }), nb::arg("other").none())
      .def("__rmatmul__", rbin([](const Tensor& a, const Tensor& b) { return matmul(a, b); }), nb::arg("other").none())
      .def("__iadd__", inplace([](const Tensor& a, const Tensor& b) { return add(a, b); }, "+="), nb::arg("other").none())
      .def("__isub__", inplace([](const Tensor& a, const Tensor& b) { return sub(a, b); }, "-="), nb::arg("other").none())
      .def("__imul__", inplace([](const Tensor& a, const Tensor& b) { return mul(a, b); }, "*="), nb::arg("other").none())
      .def("__itruediv__", inplace([](const Tensor& a, const Tensor& b) { return div(a, b); }, "/="), nb::arg("other").none())
      .def("__ipow__", inplace([](const Tensor& a, const Tensor& b) { return pow(a, b); }, "**="), nb::arg("other").none())
      .def("__neg__", [](const Tensor& a) { return neg(a); })
      .def("__abs__", [](const Tensor& a) { return abs(a); })
      .def("__invert__", [](const Tensor& a) { return logical_not(a); })
      .def("__and__", bin([](const Tensor& a, const Tensor& b) { return logical_and(a, b); }), nb::arg("other").none())
      .def("__or__", bin([](const Tensor& a, const Tensor& b) { return logical_or(a, b); }), nb::arg("other").none())
      .def("__eq__", bin([](const Tensor& a, const Tensor& b) { return compare(CompareOp::Eq, a, b); }), nb::arg("other").none())
      .def("__ne__", bin([](const Tensor& a, const Tensor& b) { return compare(CompareOp::Ne, a, b); }), nb::arg("other").none())
      .def("__lt__", bin([](const Tensor& a, const Tensor& b) { return compare(CompareOp::Lt, a, b); }), nb::arg("other").none())
      .def("__le__", bin([](const Tensor& a, const Tensor& b) { return compare(CompareOp::Le, a, b); }), nb::arg("other").none())
      .def("__gt__", bin([](const Tensor& a, const Tensor& b) { return compare(CompareOp::Gt, a, b); }), nb::arg("other").none())
      .def("__ge__", bin([](const Tensor& a, const Tensor& b) { return compare(CompareOp::Ge, a, b); }), nb::arg("other").none())
      .def("__hash__", [](const Tensor& t) { return (intptr_t)t.impl(); })
      // reductions as methods
      .def("sum", [](const Tensor& t, nb::handle axis, bool keepdims) { return sum(t, axes_arg(axis), keepdims); },
           nb::arg("axis") = nb::none(), nb::arg("keepdims") = false)
      .def("mean", [](const Tensor& t, nb::handle axis, bool keepdims) { return mean(t, axes_arg(axis), keepdims); },
           nb::arg("axis") = nb::none(), nb::arg("keepdims") = false)
      .def("max", [](const Tensor& t, nb::handle axis, bool keepdims) { return max(t, axes_arg(axis), keepdims); },
           nb::arg("axis") = nb::none(), nb::arg("keepdims") = false)
      .def("min", [](const Tensor& t, nb::handle axis, bool keepdims) { return min(t, axes_arg(axis), keepdims); },
           nb::arg("axis") = nb::none(), nb::arg("keepdims") = false)
      .def("argmax", [](const Tensor& t, std::optional<int64_t> axis, bool keepdims) { return argmax(t, axis, keepdims); },
           nb::arg("axis") = nb::none(), nb::arg("keepdims") = false)
      .def("argmin", [](const Tensor& t, std::optional<int64_t> axis, bool keepdims) { return argmin(t, axis, keepdims); },
           nb::arg("axis") = nb::none(), nb::arg("keepdims") = false)
      .def("norm", [](const Tensor& t, nb::handle axis, bool keepdims) { return norm(t, axes_arg(axis), keepdims); },
           nb::arg("axis") = nb::none(), nb::arg("keepdims") = false)
      .def("exp", [](const Tensor& t) { return exp(t); })
      .def("log", [](const Tensor& t) { return log(t); })
      .def("sqrt", [](const Tensor& t) { return sqrt(t); })
      .def("abs", [](const Tensor& t) { return abs(t); });
}

}  // namespace sc
