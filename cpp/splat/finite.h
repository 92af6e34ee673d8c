// all_finite: the rasterizer's finite-value check of a few values, shared by
// splat/rasterize.cpp and the per-target splat/gaussians_target.cpp (internal
// linkage: see core/target_unit.h).
#pragma once
#include <cstdint>
#include <cstring>
#include <type_traits>

namespace sc {

// True when none of p[0..n) is NaN or infinite (exponent bits all ones).
template <typename T>
static inline bool all_finite(const T* p, int n) {
  using U = std::conditional_t<sizeof(T) == 4, uint32_t, uint64_t>;
  const U emask = sizeof(T) == 4 ? U(0x7f800000u) : U(0x7ff0000000000000ull);
  U bad = 0;
  for (int k = 0; k < n; ++k) {
    U u;
    std::memcpy(&u, p + k, sizeof(U));
    bad |= U((u & emask) == emask);
  }
  return bad == 0;
}

}  // namespace sc
