// NumPy / DLPack <-> Tensor, zero-copy both ways, and argument conversions.
#include <nanobind/stl/string.h>

#include <climits>
#include <cstdint>

#include "bindings/bindings.h"
#include "core/convert.h"
#include "gpu/runtime.h"
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

// Bool storage holds bytes 0/1 (ops read them as numbers). NumPy treats any
// nonzero byte as True (arrays made with .view(bool) can hold 2 or 255), so
// such an array is imported as a normalised copy instead of a view.
static Tensor normalized_bools(const Tensor& t) {
  if (t.numel() == 0) return t;
  Tensor c = t.contiguous();
  const uint8_t* p = c.data<uint8_t>();
  int64_t n = c.numel(), i = 0;
  while (i < n && p[i] <= 1) ++i;
  if (i == n) return t;
  Tensor out = Tensor::empty(t.shape(), DType::Bool);
  uint8_t* q = out.data<uint8_t>();
  for (int64_t k = 0; k < n; ++k) q[k] = p[k] != 0;
  return out;
}

Tensor from_array(nb::ndarray<nb::ro> arr, nb::handle owner, bool readonly) {
  Device device;
  if (arr.device_type() == nb::device::cuda::value) {
    device = Device{DeviceType::CUDA, (int)arr.device_id()};
    if (!gpu::device_available(device))
      throw ValueError("from_dlpack: the array lives on " + device.str() + ", which this build cannot use");
  } else if (arr.device_type() != nb::device::cpu::value) {
    throw ValueError("from_dlpack: arrays on DLPack device type " + std::to_string(arr.device_type()) +
                     " cannot be imported (CPU and CUDA arrays can)");
  }
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
  auto storage = Storage::wrap(const_cast<void*>(arr.data()), nbytes, keep, device);
  if (device.is_gpu()) storage->data = nullptr;  // discrete memory: no host view
  storage->readonly = readonly;
  Tensor t = Tensor::from_storage(storage, shape, strides, 0, dt);
  if (dt == DType::Bool && !device.is_gpu()) return normalized_bools(t);
  return t;
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
  const bool cuda = t.device().type == DeviceType::CUDA;
  if (t.device().is_gpu() && !cuda)
    throw ValueError("export: tensors on " + t.device().str() + " cannot be shared; copy it with .cpu()");
  auto* keep = new std::shared_ptr<Storage>(t.storage());
  nb::capsule owner(keep, [](void* p) noexcept { delete (std::shared_ptr<Storage>*)p; });
  std::vector<size_t> shape(t.shape().begin(), t.shape().end());
  std::vector<int64_t> strides(t.strides().begin(), t.strides().end());
  void* data = cuda ? gpu::gpu_address(t) : t.raw();
  nb::ndarray<Framework, Extra...> a(data, t.ndim(), shape.data(), owner, strides.data(), to_dl(t.dtype()),
                                     cuda ? nb::device::cuda::value : nb::device::cpu::value,
                                     cuda ? t.device().index : 0);
  return nb::cast(a, nb::rv_policy::reference);
}

nb::object cuda_array_interface(const Tensor& t) {
  if (t.device().type != DeviceType::CUDA)
    throw nb::attribute_error("__cuda_array_interface__: only tensors on a CUDA device have one");
  static const char* typestr[] = {"|b1", "|u1", "<i4", "<u4", "<i8", "<f2", "<V2", "<f4", "<f8"};
  if (t.dtype() == DType::BFloat16)
    throw TypeError("__cuda_array_interface__: the interface has no bfloat16");
  gpu::runtime(t.device()).synchronize();  // the consumer reads after our queued work
  nb::dict d;
  nb::list shape, strides;
  for (int64_t i = 0; i < t.ndim(); ++i) {
    shape.append(t.shape()[i]);
    strides.append(t.strides()[i] * (int64_t)itemsize(t.dtype()));
  }
  d["shape"] = nb::tuple(shape);
  d["strides"] = t.is_contiguous() ? nb::none() : nb::object(nb::tuple(strides));
  d["typestr"] = typestr[(int)t.dtype()];
  d["data"] = nb::make_tuple((uintptr_t)gpu::gpu_address(t), t.storage()->readonly);
  d["version"] = 3;
  return d;
}

nb::object to_numpy(const Tensor& t_in) {
  // A GPU tensor: a host copy (which waits for the device's queued work).
  Tensor t = t_in.device().is_gpu() ? t_in.detach().to_device(Device{}) : t_in;
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

// One Python int (or __index__ object) as int64; OverflowError naming the
// argument where it does not fit (nb::cast threw std::bad_cast, a RuntimeError).
static int64_t int64_arg(nb::handle v, const char* argname) {
  int64_t out;
  if (nb::try_cast(v, out)) return out;
  std::string msg = std::string(argname) + ": Python integer " +
                    nb::cast<std::string>(nb::repr(v)) + " does not fit in int64";
  PyErr_SetString(PyExc_OverflowError, msg.c_str());
  throw nb::python_error();
}

std::vector<int64_t> int_list(nb::handle h, const char* argname) {
  if (nb::isinstance<nb::int_>(h)) return {int64_arg(h, argname)};
  std::vector<int64_t> out;
  if (!nb::isinstance<nb::sequence>(h) || nb::isinstance<nb::str>(h))
    throw TypeError(std::string(argname) + ": expected an int or a sequence of ints, got " +
                    nb::cast<std::string>(nb::repr(h)));
  for (nb::handle v : nb::borrow<nb::sequence>(h)) {
    if (!nb::isinstance<nb::int_>(v) && !nb::hasattr(v, "__index__"))
      throw TypeError(std::string(argname) + ": expected ints, got " +
                      nb::cast<std::string>(nb::repr(v)));
    out.push_back(int64_arg(v.attr("__index__")(), argname));
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
