// Small helpers shared by the host side of the GPU ops: launch shapes and the
// dtype suffix of a kernel's name (kernels are instantiated per element type
// as name_f32, name_i64, ...).
#pragma once
#include <cstdint>
#include <string>
#include <type_traits>

#include "core/dtype.h"
#include "core/errors.h"
#include "core/tensor.h"
#include "gpu/runtime.h"

namespace sc::gpu {

// Groups of `group` threads, one thread per item (at least one group).
inline LaunchDims groups_for(int64_t items, uint32_t group = 256) {
  LaunchDims d;
  d.group.x = group;
  uint64_t g = (uint64_t(items) + group - 1) / group;
  d.grid.x = (uint32_t)(g ? g : 1);
  return d;
}

// Groups of 256 for a grid-stride loop over `items`: one item per thread up to
// 2^22 groups, more per thread beyond.
inline LaunchDims grid_stride_groups(int64_t items) {
  LaunchDims d = groups_for(items);
  if (d.grid.x > (1u << 22)) d.grid.x = 1u << 22;
  return d;
}

// A tensor's storage for launch's buffer list, and its GPU address for an
// argument struct; null for an undefined (optional) tensor.
inline const Storage* buffer_of(const Tensor& t) { return t.defined() ? t.storage().get() : nullptr; }
template <typename U>
U* gpu_ptr_or_null(const Tensor& t) {
  return t.defined() ? gpu_ptr<U>(t) : nullptr;
}

// The kernels' element type of a host type: int64 is `long long` there (sc_i64).
template <typename S>
using kernel_t = std::conditional_t<std::is_same_v<S, int64_t>, long long, S>;

// The kernels' suffix of a numeric dtype ("u8" serves bool too).
inline const char* dtype_suffix(DType dt, const char* op) {
  switch (dt) {
    case DType::UInt8: case DType::Bool: return "u8";
    case DType::Int32: return "i32";
    case DType::UInt32: return "u32";
    case DType::Int64: return "i64";
    case DType::Float32: return "f32";
    case DType::Float64: return "f64";
    default: throw TypeError(std::string(op) + " on a GPU device: unsupported dtype " + dtype_name(dt));
  }
}

inline const Kernel& typed_kernel(const char* name, DType dt) {
  return kernel(std::string(name) + "_" + dtype_suffix(dt, name));
}

}  // namespace sc::gpu
