// The per-block loops of the CPU radix sort (ops/sort.cpp), compiled once per
// CPU target (ops/sort_target.cpp) and chosen at run time (core/cpu_target.h).
// ops/sort.cpp plans the passes, cuts the keys into blocks, runs these over
// the thread pool and prefix-sums the block histograms in between. Integer
// work only: every target gives the same bits.
#pragma once
#include <cstdint>

namespace sc {

template <typename K>
struct SortKernels {
  // out[d] = number of keys in keys[b, e) whose digit (kernels/radix_sort.h:
  // sc_radix_digit(key, shift, mask)) is d, for d in [0, mask]
  void (*histogram)(const K* keys, int64_t b, int64_t e, uint32_t shift, uint32_t mask, int64_t* out);
  // Stable scatter of keys[b, e) to kd[offs[digit]++] (offs: mask + 1 first
  // slots, copied, not modified); values go along to vd: vs[i] in
  // scatter_values, i itself in scatter_iota (the first pass of an argsort),
  // none in scatter_keys (vs, vd unused).
  void (*scatter_keys)(const K* ks, const uint32_t* vs, K* kd, uint32_t* vd, int64_t b, int64_t e,
                       uint32_t shift, uint32_t mask, const int64_t* offs);
  void (*scatter_values)(const K* ks, const uint32_t* vs, K* kd, uint32_t* vd, int64_t b, int64_t e,
                         uint32_t shift, uint32_t mask, const int64_t* offs);
  void (*scatter_iota)(const K* ks, const uint32_t* vs, K* kd, uint32_t* vd, int64_t b, int64_t e,
                       uint32_t shift, uint32_t mask, const int64_t* offs);
};

struct SortTables {
  const char* target;  // SC_TARGET_NAME of the copy (tests check the dispatch)
  SortKernels<uint32_t> u32;
  SortKernels<uint64_t> u64;
  // out[i] = sc_float_to_sortable_u32(in[i]) for i in [b, e)
  void (*to_sortable)(const float* in, uint32_t* out, int64_t b, int64_t e);
};

// The target in use.
const SortTables& sort_kernels();

template <typename K>
const SortKernels<K>& sort_kernels_of() {
  if constexpr (sizeof(K) == 4)
    return sort_kernels().u32;
  else
    return sort_kernels().u64;
}

}  // namespace sc
