// Indexing, joining and scanning ops: index_select, gather, scatter_add,
// masked_select, nonzero, concat/concatenate, stack, cumsum.
#include <nanobind/stl/optional.h>
#include <nanobind/stl/string.h>

#include "bindings/bindings.h"
#include "ops/ops.h"

namespace sc {

namespace {

Tensor arg(nb::handle h, const char* name) { return to_tensor(h, nullptr, name); }

// An index argument; an empty list (which NumPy makes float64) means "no indices".
Tensor index_arg(nb::handle h) {
  Tensor t = to_tensor(h, nullptr, "index");
  if (t.numel() == 0 && is_floating(t.dtype()) && !nb::isinstance<Tensor>(h)) return t.to(DType::Int64);
  return t;
}

std::vector<Tensor> tensor_list(nb::handle xs, const char* op) {
  if (nb::isinstance<Tensor>(xs) || !nb::isinstance<nb::sequence>(xs) || nb::isinstance<nb::str>(xs))
    throw TypeError(std::string(op) + ": xs must be a list or tuple of tensors or arrays, got " +
                    nb::cast<std::string>(nb::repr(xs.type())));
  std::vector<Tensor> out;
  size_t k = 0;
  for (nb::handle h : nb::borrow<nb::sequence>(xs)) {
    std::string name = "xs[" + std::to_string(k++) + "]";
    out.push_back(to_tensor(h, nullptr, name.c_str()));
  }
  return out;
}

}  // namespace

void bind_index(nb::module_& m) {
  m.def("index_select", [](nb::handle x, int64_t axis, nb::handle index) {
    return index_select(arg(x, "x"), axis, index_arg(index));
  }, nb::arg("x"), nb::arg("axis"), nb::arg("index"),
     "Elements of x at the 1-D integer `index` along `axis` (like numpy.take); negative "
     "indices count from the end.");
  m.def("gather", [](nb::handle x, int64_t axis, nb::handle index) {
    return gather(arg(x, "x"), axis, index_arg(index));
  }, nb::arg("x"), nb::arg("axis"), nb::arg("index"),
     "torch.gather: out[i][j] = x[index[i][j]][j] for axis 0 (index has x's ndim).");
  m.def("scatter_add", [](nb::handle x, int64_t axis, nb::handle index, nb::handle src) {
    return scatter_add(arg(x, "x"), axis, index_arg(index), arg(src, "src"));
  }, nb::arg("x"), nb::arg("axis"), nb::arg("index"), nb::arg("src"),
     "A copy of x with src added at `index` along `axis` (torch.scatter_add, out of place); "
     "repeated indices accumulate.");
  m.def("masked_select", [](nb::handle x, nb::handle mask) {
    return masked_select(arg(x, "x"), arg(mask, "mask"));
  }, nb::arg("x"), nb::arg("mask"),
     "x[mask] for a bool mask of x's shape (-> 1-D) or of its leading axes (-> rows).");
  m.def("nonzero", [](nb::handle mask) { return nonzero_1d(arg(mask, "mask")); }, nb::arg("mask"),
        "int64 indices of the non-zero (True) entries of a 1-D tensor.");
  auto cat = [](nb::handle xs, int64_t axis) { return concat(tensor_list(xs, "concat"), axis); };
  m.def("concat", cat, nb::arg("xs"), nb::arg("axis") = 0,
        "Join tensors along an existing axis (dtypes promoted like NumPy).");
  m.def("concatenate", cat, nb::arg("xs"), nb::arg("axis") = 0, "Alias of concat.");
  m.def("stack", [](nb::handle xs, int64_t axis) { return stack(tensor_list(xs, "stack"), axis); },
        nb::arg("xs"), nb::arg("axis") = 0, "Join same-shape tensors along a new axis.");
  m.def("cumsum", [](nb::handle x, std::optional<int64_t> axis) {
    Tensor t = arg(x, "x");
    if (!axis) return cumsum(t.reshape({t.numel()}), 0);  // NumPy: flattened
    return cumsum(t, *axis);
  }, nb::arg("x"), nb::arg("axis") = nb::none(),
     "Cumulative sum along `axis` (flattened when None); float32 accumulates in float64, "
     "bool/uint8/int32/uint32 give int64.");
}

}  // namespace sc
