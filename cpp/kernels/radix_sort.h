// Per-element pieces of the LSD radix sort shared by every backend (kernel
// subset, see compat.h): key transforms, digit extraction and the pass plan.
// The CPU driver is cpp/ops/sort.cpp; a GPU backend reuses the same plan and
// digit functions inside its own histogram / scan / scatter kernels.
#pragma once
#include "kernels/compat.h"

// ---- float depth -> unsigned key ------------------------------------------
// Unsigned order of the result equals the numeric order of the floats:
// positives get the sign bit set (so they land above every negative), negatives
// have all bits flipped (larger magnitude -> smaller key). -0.0 is first turned
// into +0.0 so the two zeros compare equal, as they do as floats. NaNs with the
// sign bit clear sort above +inf, with it set below -inf.
SC_FN sc_u32 sc_float_to_sortable_u32(float f) {
  sc_u32 b = SC_BITS_OF_FLOAT(f);
  if (b == 0x80000000u) b = 0u;  // -0.0 -> +0.0
  sc_u32 mask = (b & 0x80000000u) ? 0xFFFFFFFFu : 0x80000000u;
  return b ^ mask;
}

// Inverse of sc_float_to_sortable_u32 (-0.0 comes back as +0.0).
SC_FN float sc_sortable_u32_to_float(sc_u32 k) {
  sc_u32 mask = (k & 0x80000000u) ? 0x80000000u : 0xFFFFFFFFu;
  return SC_FLOAT_OF_BITS(k ^ mask);
}

// ---- digits -----------------------------------------------------------------
// Digit of `key` starting at bit `shift`, `mask` = (1 << digit_bits) - 1.
// K is the key type: 32-bit, or 64-bit (uint64_t on the host, `ulong` in MSL).
template <typename K>
SC_FN sc_u32 sc_radix_digit(K key, sc_u32 shift, sc_u32 mask) {
  return (sc_u32)(key >> shift) & mask;
}

// The same digit of a 64-bit key held as two 32-bit halves (for backends or
// buffers without 64-bit integers). Requires digit width <= 32.
SC_FN sc_u32 sc_radix_digit_u32x2(sc_u32 lo, sc_u32 hi, sc_u32 shift, sc_u32 mask) {
  if (shift >= 32u) return (hi >> (shift - 32u)) & mask;
  if (shift == 0u) return lo & mask;
  return ((lo >> shift) | (hi << (32u - shift))) & mask;
}

// The rasterizer's 64-bit intersection key: tile id in the high word, the
// sortable depth bits in the low word.
SC_FN sc_u32 sc_tile_depth_key_hi(sc_u32 tile) { return tile; }
SC_FN sc_u32 sc_tile_depth_key_lo(float depth) { return sc_float_to_sortable_u32(depth); }

// ---- pass plan --------------------------------------------------------------
// Bits [begin_bit, end_bit) are sorted in ceil(bits / max_digit_bits) passes of
// near-equal width (e.g. 12 bits with 8-bit digits -> 6 + 6, not 8 + 4: the
// same number of passes with smaller histograms).
SC_FN sc_i32 sc_radix_num_passes(sc_i32 begin_bit, sc_i32 end_bit, sc_i32 max_digit_bits) {
  sc_i32 bits = end_bit - begin_bit;
  return bits <= 0 ? 0 : (bits + max_digit_bits - 1) / max_digit_bits;
}

// Width of every pass but possibly the last (the last gets what remains).
SC_FN sc_i32 sc_radix_digit_bits(sc_i32 begin_bit, sc_i32 end_bit, sc_i32 max_digit_bits) {
  sc_i32 passes = sc_radix_num_passes(begin_bit, end_bit, max_digit_bits);
  if (passes == 0) return 0;
  return (end_bit - begin_bit + passes - 1) / passes;
}

// First bit of pass `pass` (least significant digit first).
SC_FN sc_i32 sc_radix_pass_shift(sc_i32 begin_bit, sc_i32 end_bit, sc_i32 max_digit_bits,
                                 sc_i32 pass) {
  return begin_bit + pass * sc_radix_digit_bits(begin_bit, end_bit, max_digit_bits);
}

// Digit mask of pass `pass`.
SC_FN sc_u32 sc_radix_pass_mask(sc_i32 begin_bit, sc_i32 end_bit, sc_i32 max_digit_bits,
                                sc_i32 pass) {
  sc_i32 w = sc_radix_digit_bits(begin_bit, end_bit, max_digit_bits);
  sc_i32 lo = begin_bit + pass * w;
  sc_i32 hi = lo + w < end_bit ? lo + w : end_bit;
  return (1u << (sc_u32)(hi - lo)) - 1u;
}
