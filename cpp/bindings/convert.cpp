// NumPy / DLPack <-> Tensor, zero-copy both ways, and argument conversions.
#include <nanobind/stl/string.h>

#include <climits>
#include <cstdint>

#include "bindings/bindings.h"
#include "core/convert.h"
#include "ops/ops.h"

namespace sc {

static DType from_dl(nb::dlpack::dtype d) {
  using nb::dlpack::dtype_code;
  auto code = (dtype_code)d.code;
  if (d.lanes == 1) {
    if (code == dtype_code::Float && d.bits == 32) return DType::Float32;
    if (code == dtype_code::Float && d.bits == 64) return DType::Float64;
    if (code == dtype_code::Float && d.bits == 16) return DType::Float16;
    if (code == dtype_code::Bfloat && d.bits == 16) return DType::BFloat16;
    if (code == dtype_code::Int && d.bits == 32) return DType::Int32;
    if (code == dtype_code::Int && d.bits == 64) return DType::Int64;
    if (code == dtype_code::UInt && d.bits == 32) return DType::UInt32;
    if (code == dtype_code::UInt && d.bits == 8) return DType::UInt8;
    if (code == dtype_code::Bool && d.bits == 8) return DType::Bool;
  }
  throw TypeError("array dtype is not supported by splatcore (code " + std::to_string(d.code) +
                  ", " + std::to_string(d.bits) + " bits); supported: bool, uint8, int32, uint32, "
                  "int64, float16, bfloat16, float32, float64");
}

static nb::dlpack::dtype to_dl(DType dt) {
  using nb::dlpack::dtype_code;
  auto mk = [](dtype_code c, int bits) {
    nb::dlpack::dtype d;
    d.code = (uint8_t)c;
    d.bits = (uint8_t)bits;
    d.lanes = 1;
    return d;
  };
  switch (dt) {
    case DType::Bool: return mk(dtype_code::Bool, 8);
    case DType::UInt8: return mk(dtype_code::UInt, 8);
    case DType::Int32: return mk(dtype_code::Int, 32);
    case DType::UInt32: return mk(dtype_code::UInt, 32);
    case DType::Int64: return mk(dtype_code::Int, 64);
    case DType::Float16: return mk(dtype_code::Float, 16);
    case DType::BFloat16: return mk(dtype_code::Bfloat, 16);
    case DType::Float32: return mk(dtype_code::Float, 32);
    case DType::Float64: return mk(dtype_code::Float, 64);
  }
  return mk(dtype_code::Float, 32);
}

Tensor from_array(nb::ndarray<nb::ro> arr, nb::handle owner, bool readonly) {
  if (arr.device_type() != nb::device::cpu::value)
    throw ValueError("from_dlpack: only CPU arrays can be imported in this build");
  DType dt = from_dl(arr.dtype());
  Shape shape(arr.ndim()), strides(arr.ndim());
  for (size_t i = 0; i < arr.ndim(); ++i) {
    shape[i] = (int64_t)arr.shape(i);
    strides[i] = arr.stride(i);
  }
  // Keep the exporting Python object alive as long as the storage lives.
  PyObject* o = owner.ptr();
  Py_INCREF(o);
  std::shared_ptr<void> keep(o, [](void* p) {
    nb::gil_scoped_acquire gil;
    Py_DECREF((PyObject*)p);
  });
  size_t nbytes = 0;
  if (numel_of(shape) > 0) {
    int64_t span = 1;
    for (size_t i = 0; i < shape.size(); ++i) span += (shape[i] - 1) * std::abs(strides[i]);
    nbytes = (size_t)span * itemsize(dt);
  }
  auto storage = Storage::wrap(const_cast<void*>(arr.data()), nbytes, keep);
  storage->readonly = readonly;
  return Tensor::from_storage(storage, shape, strides, 0, dt);
}

bool try_import_array(nb::handle h, Tensor& out) {
  // Writable first; a read-only exporter (flagged through DLPack or the buffer
  // protocol) is refused there and accepted by the read-only cast.
  nb::ndarray<> rw;
  if (nb::try_cast(h, rw)) {
    out = from_array(nb::ndarray<nb::ro>(rw.handle()), h, false);
    return true;
  }
  nb::ndarray<nb::ro> ro;
  if (nb::try_cast(h, ro)) {
    out = from_array(ro, h, true);
    return true;
  }
  return false;
}

// Export with a capsule that keeps the storage alive. Framework numpy gives a
// numpy.ndarray view; array_api gives an object with __dlpack__ and the buffer
// protocol.
template <typename Framework, typename... Extra>
static nb::object export_array(const Tensor& t) {
  if (t.device().type != DeviceType::CPU)
    throw ValueError("numpy: tensor is on " + t.device().str() + "; copy it to 'cpu' first");
  auto* keep = new std::shared_ptr<Storage>(t.storage());
  nb::capsule owner(keep, [](void* p) noexcept { delete (std::shared_ptr<Storage>*)p; });
  std::vector<size_t> shape(t.shape().begin(), t.shape().end());
  std::vector<int64_t> strides(t.strides().begin(), t.strides().end());
  nb::ndarray<Framework, Extra...> a(t.raw(), t.ndim(), shape.data(), owner, strides.data(),
                                     to_dl(t.dtype()), nb::device::cpu::value, 0);
  return nb::cast(a, nb::rv_policy::reference);
}

nb::object to_numpy(const Tensor& t) {
  if (t.dtype() == DType::BFloat16)
    throw TypeError("numpy: NumPy has no bfloat16; use t.astype('float32').numpy()");
  if (t.storage()->readonly) return export_array<nb::numpy, nb::ro>(t);
  return export_array<nb::numpy>(t);
}

nb::object to_dlpack_ndarray(const Tensor& t) {
  if (t.storage()->readonly) return export_array<nb::array_api, nb::ro>(t);
  return export_array<nb::array_api>(t);
}

DType dtype_arg(nb::handle h, const char* argname) {
  if (nb::isinstance<nb::str>(h)) {
    std::string s = nb::cast<std::string>(h);
    try {
      return dtype_from_name(s);
    } catch (const TypeError& e) {
      throw TypeError(std::string(argname) + ": " + e.what());
    }
  }
  if (nb::hasattr(h, "__name__") && nb::cast<std::string>(h.attr("__name__")) == "bool")
    return DType::Bool;
  // NumPy dtypes and scalar types: numpy.dtype(h).name
  nb::module_ np = nb::module_::import_("numpy");
  std::string name;
  try {
    name = nb::cast<std::string>(np.attr("dtype")(h).attr("name"));
  } catch (...) {
    throw TypeError(std::string(argname) + ": expected a dtype name such as 'float32', got " +
                    nb::cast<std::string>(nb::repr(h)));
  }
  return dtype_from_name(name);
}

std::vector<int64_t> int_list(nb::handle h, const char* argname) {
  if (nb::isinstance<nb::int_>(h)) return {nb::cast<int64_t>(h)};
  std::vector<int64_t> out;
  if (!nb::isinstance<nb::sequence>(h) || nb::isinstance<nb::str>(h))
    throw TypeError(std::string(argname) + ": expected an int or a sequence of ints, got " +
                    nb::cast<std::string>(nb::repr(h)));
  for (nb::handle v : nb::borrow<nb::sequence>(h)) {
    if (!nb::isinstance<nb::int_>(v) && !nb::hasattr(v, "__index__"))
      throw TypeError(std::string(argname) + ": expected ints, got " +
                      nb::cast<std::string>(nb::repr(v)));
    out.push_back(nb::cast<int64_t>(v.attr("__index__")()));
  }
  return out;
}

// A Python int next to `like` (or alone: int64), exact for int64, and an
// OverflowError where it does not fit like's integer dtype (as in NumPy 2).
static Tensor int_scalar(int64_t v, const Tensor* like, const char* argname) {
  if (like && is_floating(like->dtype())) return Tensor::scalar((double)v, like->dtype());
  DType dt = like ? like->dtype() : DType::Int64;
  if (dt == DType::Bool) dt = DType::Int64;
  int64_t lo = INT64_MIN, hi = INT64_MAX;
  if (dt == DType::UInt8) lo = 0, hi = 255;
  if (dt == DType::Int32) lo = INT32_MIN, hi = INT32_MAX;
  if (dt == DType::UInt32) lo = 0, hi = UINT32_MAX;
  if (v < lo || v > hi) {
    std::string msg = std::string(argname) + ": Python integer " + std::to_string(v) +
                      " is out of bounds for " + dtype_name(dt);
    PyErr_SetString(PyExc_OverflowError, msg.c_str());
    throw nb::python_error();
  }
  Tensor t = Tensor::empty({}, dt);
  SC_DISPATCH_STORAGE(dt, { *t.data<scalar_t>() = convert<scalar_t>(v); });
  return t;
}

Tensor to_tensor(nb::handle h, const Tensor* like, const char* argname) {
  if (nb::isinstance<Tensor>(h)) return nb::cast<Tensor>(h);
  if (PyBool_Check(h.ptr())) {
    double v = h.ptr() == Py_True ? 1.0 : 0.0;
    return like ? Tensor::scalar(v, like->dtype()) : Tensor::scalar(v, DType::Bool);
  }
  if (nb::isinstance<nb::int_>(h)) {
    int64_t iv;
    if (!nb::try_cast(h, iv)) {
      PyErr_Format(PyExc_OverflowError, "%s: Python int too large for int64", argname);
      throw nb::python_error();
    }
    return int_scalar(iv, like, argname);
  }
  if (nb::isinstance<nb::float_>(h)) {
    double v = nb::cast<double>(h);
    return like ? scalar_like(v, *like, true) : Tensor::scalar(v, DType::Float32);
  }
  {
    Tensor t;
    if (try_import_array(h, t)) return t;
  }
  // lists and other sequences: through NumPy
  nb::module_ np = nb::module_::import_("numpy");
  nb::object a;
  try {
    a = np.attr("asarray")(h);
  } catch (...) {
    throw TypeError(std::string(argname) + ": expected a Tensor, a number or an array, got " +
                    nb::cast<std::string>(nb::repr(h.type())));
  }
  if (nb::cast<std::string>(a.attr("dtype").attr("kind")) == "O")
    throw TypeError(std::string(argname) + ": expected a Tensor, a number or an array, got " +
                    nb::cast<std::string>(nb::repr(h.type())));
  if (like == nullptr && nb::cast<std::string>(a.attr("dtype").attr("name")) == "float64")
    a = a.attr("astype")("float32");  // Python floats default to float32, as in PyTorch
  nb::ndarray<nb::ro> arr2;
  if (!nb::try_cast(a, arr2))
    throw TypeError(std::string(argname) + ": cannot import an array of dtype " +
                    nb::cast<std::string>(nb::str(nb::handle(a.attr("dtype")))) + " with byte strides " +
                    nb::cast<std::string>(nb::str(nb::handle(a.attr("strides")))) +
                    " (supported: bool, uint8, int32, uint32, int64, float16, float32, float64 "
                    "in native byte order, strides a multiple of the item size)");
  Tensor t = from_array(arr2, a, false);
  return like && is_floating(like->dtype()) && !is_floating(t.dtype()) ? t.to(like->dtype()) : t;
}

}  // namespace sc
