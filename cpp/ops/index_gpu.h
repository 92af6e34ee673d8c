// index_select, gather, scatter_add and nonzero for tensors on a GPU device
// (ops/index_gpu.cpp), called by ops/index.cpp after its shape checks. Index
// values are checked on the device (gpu::check_device_errors).
#pragma once
#include "core/tensor.h"

namespace sc {

Tensor index_select_gpu(const Tensor& x, int64_t axis, const Tensor& index);
Tensor gather_gpu(const Tensor& x, int64_t axis, const Tensor& index);
Tensor scatter_add_gpu(const Tensor& x, int64_t axis, const Tensor& index, const Tensor& src);
// Reads the mask on the host: the output's size depends on its values (a sync).
Tensor nonzero_gpu(const Tensor& mask);

}  // namespace sc
