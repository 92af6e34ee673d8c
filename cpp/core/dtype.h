// Element types of a Tensor and their properties.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>

#include "kernels/half.h"

namespace sc {

enum class DType : uint8_t { Bool, UInt8, Int32, UInt32, Int64, Float16, BFloat16, Float32, Float64 };

size_t itemsize(DType dt);
const char* dtype_name(DType dt);  // "float32", ...
DType dtype_from_name(const std::string& name);  // throws TypeError
bool is_floating(DType dt);
bool is_half(DType dt);  // float16 or bfloat16: computed in float32
// NumPy-like promotion of two tensor dtypes.
DType promote(DType a, DType b);

// Storage types. bool is stored as one byte holding 0/1.
struct f16 { uint16_t bits; };
struct bf16 { uint16_t bits; };

template <typename T> struct dtype_of;
template <> struct dtype_of<bool> { static constexpr DType value = DType::Bool; };
template <> struct dtype_of<uint8_t> { static constexpr DType value = DType::UInt8; };
template <> struct dtype_of<int32_t> { static constexpr DType value = DType::Int32; };
template <> struct dtype_of<uint32_t> { static constexpr DType value = DType::UInt32; };
template <> struct dtype_of<int64_t> { static constexpr DType value = DType::Int64; };
template <> struct dtype_of<f16> { static constexpr DType value = DType::Float16; };
template <> struct dtype_of<bf16> { static constexpr DType value = DType::BFloat16; };
template <> struct dtype_of<float> { static constexpr DType value = DType::Float32; };
template <> struct dtype_of<double> { static constexpr DType value = DType::Float64; };

}  // namespace sc

// Dispatch helpers: run __VA_ARGS__ with scalar_t bound to the C++ type.
#define SC_CASE(DT, T, ...) \
  case ::sc::DType::DT: {   \
    using scalar_t = T;     \
    __VA_ARGS__;            \
    break;                  \
  }

// float32 / float64 only (half types are converted by the caller).
#define SC_DISPATCH_FLOAT(dt, opname, ...)                                              \
  switch (dt) {                                                                         \
    SC_CASE(Float32, float, __VA_ARGS__)                                                \
    SC_CASE(Float64, double, __VA_ARGS__)                                               \
    default:                                                                            \
      throw ::sc::TypeError(std::string(opname) + ": expected a float32 or float64 "    \
                            "tensor, got " + ::sc::dtype_name(dt));                     \
  }

// Every non-half numeric type (bool as uint8 arithmetic is not offered).
#define SC_DISPATCH_NUMERIC(dt, opname, ...)                                            \
  switch (dt) {                                                                         \
    SC_CASE(UInt8, uint8_t, __VA_ARGS__)                                                \
    SC_CASE(Int32, int32_t, __VA_ARGS__)                                                \
    SC_CASE(UInt32, uint32_t, __VA_ARGS__)                                              \
    SC_CASE(Int64, int64_t, __VA_ARGS__)                                                \
    SC_CASE(Float32, float, __VA_ARGS__)                                                \
    SC_CASE(Float64, double, __VA_ARGS__)                                               \
    default:                                                                            \
      throw ::sc::TypeError(std::string(opname) + ": unsupported dtype " +              \
                            ::sc::dtype_name(dt));                                      \
  }

// Every storage type, bool included (as uint8_t), half types as their bit patterns.
#define SC_DISPATCH_ALL(dt, opname, ...)                                                \
  switch (dt) {                                                                         \
    SC_CASE(Bool, uint8_t, __VA_ARGS__)                                                 \
    SC_CASE(UInt8, uint8_t, __VA_ARGS__)                                                \
    SC_CASE(Int32, int32_t, __VA_ARGS__)                                                \
    SC_CASE(UInt32, uint32_t, __VA_ARGS__)                                              \
    SC_CASE(Int64, int64_t, __VA_ARGS__)                                                \
    SC_CASE(Float16, uint16_t, __VA_ARGS__)                                             \
    SC_CASE(BFloat16, uint16_t, __VA_ARGS__)                                            \
    SC_CASE(Float32, float, __VA_ARGS__)                                                \
    SC_CASE(Float64, double, __VA_ARGS__)                                               \
  }
