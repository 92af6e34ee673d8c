// The common subset of C++17, CUDA C++ and the Metal Shading Language in which
// kernel bodies (cpp/kernels/*.h) are written once (ARCHITECTURE.md, principle 1).
//
// Rules for kernel headers: inline functions and templates only; no std::, no
// exceptions, no new/delete, no virtual, no recursion, no pointer-to-pointer;
// buffers are plain scalar pointers qualified with SC_DEVICE / SC_THREADGROUP;
// pointers to a function's local arrays are qualified with SC_THREAD.
// tools/check_kernels.py compiles every header against an MSL-like shim to keep
// them honest.
#pragma once

#if defined(__METAL_VERSION__)
#include <metal_stdlib>
using namespace metal;
#define SC_FN inline
#define SC_DEVICE device
#define SC_THREADGROUP threadgroup
#define SC_THREAD thread
#define SC_CONSTANT constant
#define SC_BITS_OF_FLOAT(x) as_type<uint>(x)
#define SC_FLOAT_OF_BITS(x) as_type<float>(x)
typedef uint sc_u32;
typedef int sc_i32;
#elif defined(__CUDACC__)
#define SC_FN __host__ __device__ inline
#define SC_DEVICE
#define SC_THREADGROUP
#define SC_THREAD
#define SC_CONSTANT
typedef unsigned int sc_u32;
typedef int sc_i32;
// __float_as_uint is device-only; a union works on host and device.
__host__ __device__ inline sc_u32 sc_cuda_bits_of_float(float x) {
  union { float f; sc_u32 u; } c;
  c.f = x;
  return c.u;
}
__host__ __device__ inline float sc_cuda_float_of_bits(sc_u32 x) {
  union { float f; sc_u32 u; } c;
  c.u = x;
  return c.f;
}
#define SC_BITS_OF_FLOAT(x) sc_cuda_bits_of_float(x)
#define SC_FLOAT_OF_BITS(x) sc_cuda_float_of_bits(x)
#elif defined(SC_KERNEL_GUARD)
// Restricted mode used by tools/check_kernels.py: no standard library, the
// address spaces spelled as MSL spells them, math as the MSL overload set.
#include "kernels/guard_shim.h"
#else
#include <math.h>
#if defined(SC_TARGET_NAME)
// a source compiled once per CPU target (core/target_unit.h): each copy of a
// kernel body keeps its own instructions (internal linkage)
#define SC_FN static inline
#else
#define SC_FN inline
#endif
#define SC_DEVICE
#define SC_THREADGROUP
#define SC_THREAD
#define SC_CONSTANT
#define SC_BITS_OF_FLOAT(x) __builtin_bit_cast(unsigned int, (float)(x))
#define SC_FLOAT_OF_BITS(x) __builtin_bit_cast(float, (unsigned int)(x))
typedef unsigned int sc_u32;
typedef int sc_i32;
#endif
