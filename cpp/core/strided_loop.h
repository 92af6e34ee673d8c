// Loops over the elements of several same-shape strided operands (inputs
// already broadcast with zero strides). Dimensions are coalesced first, so
// contiguous operands become one flat run that the compiler vectorises.
#pragma once
#include <array>
#include <cstdint>
#include <vector>

#include "core/tensor.h"
#include "core/thread_pool.h"

namespace sc {

template <int K>
struct StridedLayout {
  Shape shape;                          // coalesced
  std::vector<std::array<int64_t, K>> strides;  // per dim, per operand (elements)
};

template <int K>
StridedLayout<K> coalesce(const Shape& shape, const std::array<const Shape*, K>& strides) {
  StridedLayout<K> L;
  for (size_t d = 0; d < shape.size(); ++d) {
    if (shape[d] == 1) continue;
    std::array<int64_t, K> s;
    for (int k = 0; k < K; ++k) s[k] = (*strides[k])[d];
    if (!L.shape.empty()) {
      bool merge = true;
      for (int k = 0; k < K; ++k)
        if (L.strides.back()[k] != s[k] * shape[d]) merge = false;
      if (merge) {
        L.shape.back() *= shape[d];
        L.strides.back() = s;
        continue;
      }
    }
    L.shape.push_back(shape[d]);
    L.strides.push_back(s);
  }
  if (L.shape.empty()) {
    L.shape.push_back(1);
    L.strides.push_back({});
    for (int k = 0; k < K; ++k) L.strides.back()[k] = 0;
  }
  return L;
}

// fn(n, ptrs, inner_strides): process n elements along the innermost dim,
// operand k at ptrs[k] with stride inner_strides[k] (in elements).
// Element pointers are char* advanced by itemsize[k]*stride.
template <int K, typename Fn>
void strided_for_each(const Shape& shape, const std::array<const Shape*, K>& strides,
                      const std::array<char*, K>& base, const std::array<int64_t, K>& itemsizes,
                      Fn&& fn, int64_t grain = 32768) {
  StridedLayout<K> L = coalesce<K>(shape, strides);
  const int64_t nd = (int64_t)L.shape.size();
  const int64_t inner = L.shape[nd - 1];
  int64_t total = numel_of(L.shape);
  std::array<int64_t, K> inner_stride = L.strides[nd - 1];
  parallel_for(total, grain, [&](int64_t begin, int64_t end) {
    // multi-index of `begin`
    std::vector<int64_t> idx(nd);
    int64_t rem = begin;
    for (int64_t d = nd - 1; d >= 0; --d) {
      idx[d] = rem % L.shape[d];
      rem /= L.shape[d];
    }
    std::array<char*, K> p;
    for (int k = 0; k < K; ++k) {
      int64_t off = 0;
      for (int64_t d = 0; d < nd; ++d) off += idx[d] * L.strides[d][k];
      p[k] = base[k] + off * itemsizes[k];
    }
    int64_t i = begin;
    while (i < end) {
      int64_t n = std::min(inner - idx[nd - 1], end - i);
      fn(n, p, inner_stride);
      i += n;
      if (i >= end) break;
      // advance: innermost run finished, carry into outer dims
      for (int k = 0; k < K; ++k) p[k] += n * inner_stride[k] * itemsizes[k];
      idx[nd - 1] += n;
      for (int64_t d = nd - 1; d > 0 && idx[d] == L.shape[d]; --d) {
        idx[d] = 0;
        idx[d - 1]++;
        for (int k = 0; k < K; ++k)
          p[k] += (L.strides[d - 1][k] - L.shape[d] * L.strides[d][k]) * itemsizes[k];
      }
    }
  });
}

}  // namespace sc
