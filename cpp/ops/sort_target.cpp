// The radix sort's per-block loops for one CPU target (core/target_unit.h;
// the interface is ops/sort_kernels.h): digit histograms, the stable scatter
// and the float -> sortable key transform, over the digit functions of
// kernels/radix_sort.h.
#include "core/target_unit.h"

#include <cstring>

#include "kernels/radix_sort.h"
#include "ops/sort_kernels.h"

namespace {

constexpr int kMaxRadix = 256;  // digits of at most 8 bits (ops/sort.cpp: kDigitBits)

// Four interleaved sub-histograms keep runs of equal digits (sorted or
// constant input) from serialising on one counter.
template <class K>
void histogram(const K* keys, int64_t b, int64_t e, uint32_t shift, uint32_t mask, int64_t* out) {
  uint32_t c[4][kMaxRadix];
  const size_t r = (size_t)mask + 1;
  for (auto& h : c) std::memset(h, 0, r * sizeof(uint32_t));
  int64_t i = b;
  for (; i + 4 <= e; i += 4) {
    c[0][sc_radix_digit(keys[i], shift, mask)]++;
    c[1][sc_radix_digit(keys[i + 1], shift, mask)]++;
    c[2][sc_radix_digit(keys[i + 2], shift, mask)]++;
    c[3][sc_radix_digit(keys[i + 3], shift, mask)]++;
  }
  for (; i < e; ++i) c[0][sc_radix_digit(keys[i], shift, mask)]++;
  for (size_t d = 0; d < r; ++d) out[d] = (int64_t)c[0][d] + c[1][d] + c[2][d] + c[3][d];
}

template <class K, bool kValues, bool kIota>
void scatter(const K* ks, const uint32_t* vs, K* kd, uint32_t* vd, int64_t b, int64_t e, uint32_t shift,
             uint32_t mask, const int64_t* offs) {
  int64_t off[kMaxRadix];
  std::memcpy(off, offs, ((size_t)mask + 1) * sizeof(int64_t));
  for (int64_t i = b; i < e; ++i) {
    const K k = ks[i];
    const int64_t p = off[sc_radix_digit(k, shift, mask)]++;
    kd[p] = k;
    if (kValues) vd[p] = kIota ? (uint32_t)i : vs[i];
  }
}

void to_sortable(const float* in, uint32_t* out, int64_t b, int64_t e) {
  for (int64_t i = b; i < e; ++i) out[i] = sc_float_to_sortable_u32(in[i]);
}

template <class K>
constexpr sc::SortKernels<K> table() {
  return {&histogram<K>, &scatter<K, false, false>, &scatter<K, true, false>, &scatter<K, true, true>};
}

const sc::SortTables kTables = {SC_TARGET_STRING, table<uint32_t>(), table<uint64_t>(), &to_sortable};

}  // namespace

namespace sc {
const SortTables& SC_TARGET_TABLE(sort_kernels)() { return kTables; }
}  // namespace sc
