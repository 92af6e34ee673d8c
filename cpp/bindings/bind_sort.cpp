// splatcore._core.radix_sort_pairs and float_keys (wrapped by splatcore.sort).
//
// Results follow the kind of the keys: Tensor keys give Tensors, arrays give
// NumPy arrays. uint64 keys can only come as arrays (Tensor has no uint64
// dtype), so their results are NumPy arrays.
#include <nanobind/stl/optional.h>
#include <nanobind/stl/string.h>

#include <optional>
#include <string>
#include <vector>

#include "bindings/bindings.h"
#include "ops/sort.h"

namespace sc {
namespace {

using namespace nb::literals;

std::string dl_name(nb::dlpack::dtype d) {
  using nb::dlpack::dtype_code;
  std::string base;
  switch ((dtype_code)d.code) {
    case dtype_code::Int: base = "int"; break;
    case dtype_code::UInt: base = "uint"; break;
    case dtype_code::Float: base = "float"; break;
    case dtype_code::Bfloat: base = "bfloat"; break;
    case dtype_code::Complex: base = "complex"; break;
    case dtype_code::Bool: return "bool";
    default: base = "code" + std::to_string(d.code) + "_"; break;
  }
  std::string s = base + std::to_string(d.bits);
  if (d.lanes != 1) s += "x" + std::to_string(d.lanes);
  return s;
}

bool is_dl(nb::dlpack::dtype d, nb::dlpack::dtype_code code, int bits) {
  return d.lanes == 1 && d.code == (uint8_t)code && d.bits == bits;
}

// A Tensor / array / sequence argument that must have dtype `want`; the
// TypeError names the argument and the dtype that came.
Tensor typed_arg(nb::handle h, const char* fn, const char* name, DType want,
                 const char* expected, bool allow_gpu = false) {
  Tensor t;
  nb::ndarray<nb::ro> arr;
  if (nb::isinstance<Tensor>(h)) {
    t = nb::cast<Tensor>(h);
  } else if (nb::try_cast(h, arr)) {
    // Check before from_array, whose error for unsupported dtypes names no argument.
    nb::dlpack::dtype d = arr.dtype();
    bool ok = (want == DType::UInt32 && is_dl(d, nb::dlpack::dtype_code::UInt, 32)) ||
              (want == DType::Float32 && is_dl(d, nb::dlpack::dtype_code::Float, 32));
    if (!ok)
      throw TypeError(std::string(fn) + ": " + name + " must be " + expected + ", got " +
                      dl_name(d));
    t = from_array(arr, h);
  } else {
    t = to_tensor(h, nullptr, name);
  }
  if (t.dtype() != want)
    throw TypeError(std::string(fn) + ": " + name + " must be " + expected + ", got " +
                    dtype_name(t.dtype()));
  if (t.device().is_gpu() && !allow_gpu)
    throw ValueError(std::string(fn) + ": " + name + " must be on the CPU, got " +
                     t.device().str());
  return t;
}

void check_1d(const Shape& shape, const char* name) {
  if (shape.size() != 1)
    throw ValueError(std::string("radix_sort_pairs: ") + name + " must be 1-D, got shape " +
                     shape_str(shape));
}

nb::tuple sort_pairs(nb::handle keys, nb::handle values, int64_t begin_bit,
                     std::optional<int64_t> end_bit) {
  // ---- keys: uint32 (Tensor or array) or uint64 (array)
  const bool tensor_keys = nb::isinstance<Tensor>(keys);
  nb::ndarray<nb::ro> karr;
  bool u64 = false;
  if (!tensor_keys && nb::try_cast(keys, karr)) {
    nb::dlpack::dtype d = karr.dtype();
    u64 = is_dl(d, nb::dlpack::dtype_code::UInt, 64);
    if (!u64 && !is_dl(d, nb::dlpack::dtype_code::UInt, 32))
      throw TypeError("radix_sort_pairs: keys must be uint32 or uint64, got " + dl_name(d));
    if (karr.device_type() != nb::device::cpu::value)
      throw ValueError("radix_sort_pairs: keys must be a CPU array");
  }
  Tensor kt;
  Shape kshape;
  if (u64) {
    for (size_t i = 0; i < karr.ndim(); ++i) kshape.push_back((int64_t)karr.shape(i));
  } else {
    kt = typed_arg(keys, "radix_sort_pairs", "keys", DType::UInt32, "uint32 or uint64", true);
    kshape = kt.shape();
  }
  check_1d(kshape, "keys");
  const int64_t n = kshape[0];
  const int width = u64 ? 64 : 32;

  // ---- values: uint32, same length, or None (argsort permutation)
  Tensor vt;
  if (!values.is_none()) {
    vt = typed_arg(values, "radix_sort_pairs", "values", DType::UInt32, "uint32", true);
    check_1d(vt.shape(), "values");
  }
  const int64_t eb = end_bit ? *end_bit : width;
  check_radix_sort_args(n, width, vt.defined() ? vt.numel() : -1, begin_bit, eb);

  if (!u64) {
    std::pair<Tensor, Tensor> r;
    {
      nb::gil_scoped_release nogil;
      r = radix_sort_pairs(kt, vt, begin_bit, eb);
    }
    if (tensor_keys) return nb::make_tuple(r.first, r.second);
    return nb::make_tuple(to_numpy(r.first), to_numpy(r.second));
  }

  // uint64: raw buffers; a strided input is gathered first.
  std::vector<uint64_t> gathered;
  const uint64_t* kin = static_cast<const uint64_t*>(karr.data());
  if (n > 1 && karr.stride(0) != 1) {
    gathered.resize((size_t)n);
    const int64_t st = karr.stride(0);
    for (int64_t i = 0; i < n; ++i) gathered[(size_t)i] = kin[i * st];
    kin = gathered.data();
  }
  Tensor vc = vt.defined() ? vt.contiguous() : Tensor();
  nb::module_ np = nb::module_::import_("numpy");
  nb::object kout_obj = np.attr("empty")(n, "dtype"_a = "uint64");
  auto kout = nb::cast<nb::ndarray<uint64_t, nb::ndim<1>, nb::c_contig>>(kout_obj);
  Tensor vo = Tensor::empty({n}, DType::UInt32);
  {
    nb::gil_scoped_release nogil;
    radix_sort_pairs_copy(kin, vc.defined() ? vc.data<uint32_t>() : nullptr, kout.data(),
                          vo.data<uint32_t>(), n, (int)begin_bit, (int)eb);
  }
  return nb::make_tuple(kout_obj, to_numpy(vo));
}

}  // namespace

void bind_sort(nb::module_& m) {
  m.def("radix_sort_pairs", &sort_pairs, nb::arg("keys"), nb::arg("values") = nb::none(),
        nb::arg("begin_bit") = 0, nb::arg("end_bit") = nb::none(),
        "Stable LSD radix sort of (keys, values) by key bits [begin_bit, end_bit). keys: 1-D "
        "uint32 or uint64; values: 1-D uint32 of the same length, or None for the argsort "
        "permutation. Returns new (sorted_keys, sorted_values), Tensors for Tensor keys and "
        "NumPy arrays otherwise.");
  // Testing hook for the raw in-place entry points the rasterizer calls:
  // sorts writable C-contiguous NumPy arrays in place; values=None: keys only.
  m.def("_radix_sort_pairs_inplace", [](nb::ndarray<nb::c_contig, nb::device::cpu> keys,
                                        std::optional<nb::ndarray<uint32_t, nb::ndim<1>, nb::c_contig,
                                                                  nb::device::cpu>> values,
                                        int64_t begin_bit, int64_t end_bit) {
    nb::dlpack::dtype d = keys.dtype();
    const bool u64 = is_dl(d, nb::dlpack::dtype_code::UInt, 64);
    if (!u64 && !is_dl(d, nb::dlpack::dtype_code::UInt, 32))
      throw TypeError("_radix_sort_pairs_inplace: keys must be uint32 or uint64, got " + dl_name(d));
    if (keys.ndim() != 1) throw ValueError("_radix_sort_pairs_inplace: keys must be 1-D");
    const int64_t n = (int64_t)keys.shape(0);
    check_radix_sort_args(n, u64 ? 64 : 32, values ? (int64_t)values->shape(0) : -1, begin_bit,
                          end_bit);
    uint32_t* v = values ? values->data() : nullptr;
    nb::gil_scoped_release nogil;
    if (u64)
      radix_sort_pairs(static_cast<uint64_t*>(keys.data()), v, n, (int)begin_bit, (int)end_bit);
    else
      radix_sort_pairs(static_cast<uint32_t*>(keys.data()), v, n, (int)begin_bit, (int)end_bit);
  }, nb::arg("keys"), nb::arg("values").none(), nb::arg("begin_bit"), nb::arg("end_bit"));
  m.def("float_keys", [](nb::handle x) -> nb::object {
    const bool tensor_in = nb::isinstance<Tensor>(x);
    Tensor t = typed_arg(x, "float_keys", "x", DType::Float32, "float32");
    Tensor out;
    {
      nb::gil_scoped_release nogil;
      out = float_to_sortable_u32(t);
    }
    if (tensor_in) return nb::cast(out);
    return to_numpy(out);
  }, nb::arg("x"),
        "uint32 keys whose unsigned order is the order of the float32 values (-0.0 == +0.0).");
}

}  // namespace sc
