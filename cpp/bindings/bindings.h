// The nanobind module splatcore._core is assembled from one bind_* function
// per area; each lives in its own file.
#pragma once
#include <nanobind/nanobind.h>
#include <nanobind/ndarray.h>

#include "core/tensor.h"

namespace nb = nanobind;

namespace sc {

void bind_errors(nb::module_& m);
void bind_tensor(nb::module_& m);
void bind_ops(nb::module_& m);
void bind_linalg(nb::module_& m);
void bind_index(nb::module_& m);
void bind_optim(nb::module_& m);
void bind_sort(nb::module_& m);
void bind_info(nb::module_& m);

// Conversions shared by the bind_* files.
DType dtype_arg(nb::handle h, const char* argname = "dtype");  // str, numpy dtype or type
// A Python scalar, NumPy array or Tensor as a Tensor; scalars take `like`'s dtype.
Tensor to_tensor(nb::handle h, const Tensor* like = nullptr, const char* argname = "other");
std::vector<int64_t> int_list(nb::handle h, const char* argname);  // int or sequence of ints
Tensor from_array(nb::ndarray<nb::ro> arr, nb::handle owner);      // zero-copy import
nb::object to_numpy(const Tensor& t);                               // zero-copy export

}  // namespace sc
