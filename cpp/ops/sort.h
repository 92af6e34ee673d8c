// Stable LSD radix sort of (key, value) pairs on the CPU thread pool.
//
// Only the key bits in [begin_bit, end_bit) take part: pairs are ordered by
// (key >> begin_bit) & ((1 << (end_bit - begin_bit)) - 1), ties keep their input
// order. Bits are consumed 8 at a time (ceil(bits / 8) passes of near-equal
// width); a pass whose digit is the same for every key is skipped.
//
// Raw-buffer entry points (for the rasterizer, no Python and no Tensor):
//   * keys_tmp / values_tmp: scratch of n elements each; nullptr -> allocated
//     here for the duration of the call.
//   * values == nullptr (in place) / values_out == nullptr (copy): keys only.
//   * radix_sort_pairs_copy with values_in == nullptr writes the argsort
//     permutation (0..n-1 reordered) into values_out.
// Invalid arguments (n < 0, bad bit range) throw sc::ValueError.
#pragma once
#include <cstdint>
#include <utility>

#include "core/tensor.h"

namespace sc {

// In place: keys and values end up sorted.
void radix_sort_pairs(uint32_t* keys, uint32_t* values, int64_t n, int begin_bit = 0,
                      int end_bit = 32, uint32_t* keys_tmp = nullptr,
                      uint32_t* values_tmp = nullptr);
void radix_sort_pairs(uint64_t* keys, uint32_t* values, int64_t n, int begin_bit = 0,
                      int end_bit = 64, uint64_t* keys_tmp = nullptr,
                      uint32_t* values_tmp = nullptr);

// Out of place: *_in are only read (they may alias *_out, which is then the in
// place sort). keys_out / values_out receive the sorted pairs.
void radix_sort_pairs_copy(const uint32_t* keys_in, const uint32_t* values_in,
                           uint32_t* keys_out, uint32_t* values_out, int64_t n,
                           int begin_bit = 0, int end_bit = 32, uint32_t* keys_tmp = nullptr,
                           uint32_t* values_tmp = nullptr);
void radix_sort_pairs_copy(const uint64_t* keys_in, const uint32_t* values_in,
                           uint64_t* keys_out, uint32_t* values_out, int64_t n,
                           int begin_bit = 0, int end_bit = 64, uint64_t* keys_tmp = nullptr,
                           uint32_t* values_tmp = nullptr);

// Argument checks shared with the bindings: n_values < 0 means "no values";
// key_bits is 32 or 64. Throws ValueError naming the offending argument.
void check_radix_sort_args(int64_t n_keys, int key_bits, int64_t n_values, int64_t begin_bit,
                           int64_t end_bit);

// Tensor level: keys a 1-D uint32 tensor, values a 1-D uint32 tensor of the
// same length or an undefined Tensor (-> the argsort permutation). end_bit < 0
// means the key width. Returns new (sorted_keys, sorted_values); inputs are
// not modified. (Tensor has no uint64 dtype yet; 64-bit keys go through the
// raw-buffer functions.)
std::pair<Tensor, Tensor> radix_sort_pairs(const Tensor& keys, const Tensor& values,
                                           int64_t begin_bit = 0, int64_t end_bit = -1);

// out[i] = sc_float_to_sortable_u32(in[i]) (kernels/radix_sort.h), in parallel.
void float_to_sortable_u32(const float* in, uint32_t* out, int64_t n);
// Tensor level: float32 tensor of any shape -> uint32 tensor of the same shape.
Tensor float_to_sortable_u32(const Tensor& x);

}  // namespace sc
