// NumPy / DLPack <-> Tensor, zero-copy both ways, and argument conversions.
#include <nanobind/stl/string.h>

#include "bindings/bindings.h"
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

Tensor from_array(nb::ndarray<nb::ro> arr, nb::handle owner) {
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
  return Tensor::from_storage(storage, shape, strides, 0, dt);
}

// Export with a capsule that keeps the storage alive. Framework numpy gives a
// numpy.ndarray view; array_api gives an object with __dlpack__ and the buffer
// protocol.
template <typename Framework>
static nb::object export_array(const Tensor& t) {
  if (t.device().type != DeviceType::CPU)
    throw ValueError("numpy: tensor is on " + t.device().str() + "; copy it to 'cpu' first");
  auto* keep = new std::shared_ptr<Storage>(t.storage());
  nb::capsule owner(keep, [](void* p) noexcept { delete (std::shared_ptr<Storage>*)p; });
  std::vector<size_t> shape(t.shape().begin(), t.shape().end());
  std::vector<int64_t> strides(t.strides().begin(), t.strides().end());
  nb::ndarray<Framework> a(t.raw(), t.ndim(), shape.data(), owner, strides.data(),
                           to_dl(t.dtype()), nb::device::cpu::value, 0);
  return nb::cast(a, nb::rv_policy::reference);
}

nb::object to_numpy(const Tensor& t) {
  if (t.dtype() == DType::BFloat16)
    throw TypeError("numpy: NumPy has no bfloat16; use t.astype('float32').numpy()");
  return export_array<nb::numpy>(t);
}

nb::object to_dlpack_ndarray(const Tensor& t) { return export_array<nb::array_api>(t); }

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

Tensor to_tensor(nb::handle h, const Tensor* like, const char* argname) {
  if (nb::isinstance<Tensor>(h)) return nb::cast<Tensor>(h);
  if (PyBool_Check(h.ptr())) {
    double v = h.ptr() == Py_True ? 1.0 : 0.0;
    return like ? Tensor::scalar(v, like->dtype()) : Tensor::scalar(v, DType::Bool);
  }
  if (nb::isinstance<nb::int_>(h)) {
    double v = (double)nb::cast<int64_t>(h);
    return like ? scalar_like(v, *like, false) : Tensor::scalar(v, DType::Int64);
  }
  if (nb::isinstance<nb::float_>(h)) {
    double v = nb::cast<double>(h);
    return like ? scalar_like(v, *like, true) : Tensor::scalar(v, DType::Float32);
  }
  nb::ndarray<nb::ro> arr;
  if (nb::try_cast(h, arr)) return from_array(arr, h);
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
  nb::ndarray<nb::ro> arr2 = nb::cast<nb::ndarray<nb::ro>>(a);
  Tensor t = from_array(arr2, a);
  return like && is_floating(like->dtype()) && !is_floating(t.dtype()) ? t.to(like->dtype()) : t;
}

}  // namespace sc
