// Scalar conversions between storage types (half types as bit-pattern structs).
#pragma once
#include <type_traits>

#include "core/dtype.h"
#include "kernels/half.h"

namespace sc {

template <typename T> inline double to_double(T v) { return (double)v; }
template <> inline double to_double(f16 v) { return sc_f16_to_f32(v.bits); }
template <> inline double to_double(bf16 v) { return sc_bf16_to_f32(v.bits); }

template <typename D, typename S>
inline D convert(S v) {
  if constexpr (std::is_same_v<D, S>) {
    return v;
  } else if constexpr (std::is_same_v<D, bool>) {
    return to_double(v) != 0.0;
  } else if constexpr (std::is_same_v<D, f16>) {
    return f16{sc_f32_to_f16((float)to_double(v))};
  } else if constexpr (std::is_same_v<D, bf16>) {
    return bf16{sc_f32_to_bf16((float)to_double(v))};
  } else if constexpr (std::is_integral_v<D> && std::is_integral_v<S>) {
    return static_cast<D>(v);
  } else if constexpr (std::is_same_v<S, float> && std::is_same_v<D, double>) {
    return (double)v;
  } else {
    return static_cast<D>(to_double(v));
  }
}

}  // namespace sc

// Every storage type with its true C++ type (bool, f16, bf16 structs).
#define SC_DISPATCH_STORAGE(dt, ...)            \
  switch (dt) {                                 \
    SC_CASE(Bool, bool, __VA_ARGS__)            \
    SC_CASE(UInt8, uint8_t, __VA_ARGS__)        \
    SC_CASE(Int32, int32_t, __VA_ARGS__)        \
    SC_CASE(UInt32, uint32_t, __VA_ARGS__)      \
    SC_CASE(Int64, int64_t, __VA_ARGS__)        \
    SC_CASE(Float16, ::sc::f16, __VA_ARGS__)    \
    SC_CASE(BFloat16, ::sc::bf16, __VA_ARGS__)  \
    SC_CASE(Float32, float, __VA_ARGS__)        \
    SC_CASE(Float64, double, __VA_ARGS__)       \
  }
