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
void bind_splat(nb::module_& m);
void bind_loss(nb::module_& m);
void bind_safetensors(nb::module_& m);
void bind_mast3r(nb::module_& m);
void bind_mesh(nb::module_& m);
void bind_align(nb::module_& m);
void bind_info(nb::module_& m);
void bind_device(nb::module_& m);
void bind_gpu_selftest(nb::module_& m);

// Conversions shared by the bind_* files.
DType dtype_arg(nb::handle h, const char* argname = "dtype");  // str, numpy dtype or type
// A Python scalar, NumPy array or Tensor as a Tensor; scalars take `like`'s dtype.
Tensor to_tensor(nb::handle h, const Tensor* like = nullptr, const char* argname = "other");
std::vector<int64_t> int_list(nb::handle h, const char* argname);  // int or sequence of ints
// A device name ("cpu", "cuda:1", "sim", ...); None gives the default device.
Device device_arg(nb::handle h, const char* argname = "device");
// Zero-copy import; `readonly` marks memory its owner does not let us write.
Tensor from_array(nb::ndarray<nb::ro> arr, nb::handle owner, bool readonly = false);
// Any DLPack / buffer-protocol object (NumPy arrays, ...) -> a shared-memory
// Tensor, read-only exporters flagged as such. False when h is not an array.
bool try_import_array(nb::handle h, Tensor& out);
nb::object to_numpy(const Tensor& t);                               // zero-copy export
nb::object cuda_array_interface(const Tensor& t);                    // CUDA tensors

}  // namespace sc
