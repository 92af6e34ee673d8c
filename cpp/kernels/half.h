// float16 / bfloat16 <-> float32 conversions (round to nearest even), kernel subset.
#pragma once
#include "kernels/compat.h"

// IEEE 754 binary16 -> binary32.
SC_FN float sc_f16_to_f32(unsigned short h) {
  sc_u32 sign = (sc_u32)(h & 0x8000u) << 16;
  sc_u32 exp = (h >> 10) & 0x1Fu;
  sc_u32 mant = h & 0x3FFu;
  sc_u32 bits;
  if (exp == 0x1Fu) {
    bits = sign | 0x7F800000u | (mant << 13);  // inf / nan
  } else if (exp != 0) {
    bits = sign | ((exp + 112u) << 23) | (mant << 13);
  } else if (mant == 0) {
    bits = sign;
  } else {  // subnormal: value = mant * 2^-24
    float v = (float)mant * 5.9604644775390625e-8f;
    bits = sign | SC_BITS_OF_FLOAT(v);
  }
  return SC_FLOAT_OF_BITS(bits);
}

SC_FN unsigned short sc_f32_to_f16(float f) {
  sc_u32 x = SC_BITS_OF_FLOAT(f);
  sc_u32 sign = (x >> 16) & 0x8000u;
  sc_u32 absx = x & 0x7FFFFFFFu;
  if (absx >= 0x7F800000u)  // inf or nan
    return (unsigned short)(sign | 0x7C00u | (absx > 0x7F800000u ? 0x200u : 0u));
  if (absx >= 0x477FF000u) return (unsigned short)(sign | 0x7C00u);  // rounds to inf
  if (absx < 0x38800000u) {  // result is subnormal or zero: round(|f| * 2^24)
    float a = SC_FLOAT_OF_BITS(absx) * 16777216.0f;
    sc_u32 m = (sc_u32)a;
    float rem = a - (float)m;
    if (rem > 0.5f || (rem == 0.5f && (m & 1u))) m += 1u;
    return (unsigned short)(sign | m);
  }
  sc_u32 mant = absx & 0x7FFFFFu;
  sc_u32 e = (absx >> 23) - 112u;
  sc_u32 h = (e << 10) | (mant >> 13);
  sc_u32 round_bits = mant & 0x1FFFu;
  if (round_bits > 0x1000u || (round_bits == 0x1000u && (h & 1u))) h += 1u;
  return (unsigned short)(sign | h);
}

SC_FN float sc_bf16_to_f32(unsigned short b) { return SC_FLOAT_OF_BITS(((sc_u32)b) << 16); }

SC_FN unsigned short sc_f32_to_bf16(float f) {
  sc_u32 x = SC_BITS_OF_FLOAT(f);
  if ((x & 0x7FFFFFFFu) > 0x7F800000u) return (unsigned short)((x >> 16) | 0x40u);  // quiet nan
  sc_u32 lsb = (x >> 16) & 1u;
  x += 0x7FFFu + lsb;
  return (unsigned short)(x >> 16);
}
