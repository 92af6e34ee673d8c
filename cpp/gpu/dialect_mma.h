// A SIMD-group matrix multiply-accumulate in the kernel dialect (gpu/dialect.h):
// D (16 x 8) += A (16 x 8) B (8 x 8) on TF32 inputs with float32 accumulation,
// computed by the 32 lanes of one full SIMD group together.
//
// Fragments follow PTX's mma.m16n8k8 .tf32 layout (PTX ISA, "Matrix Fragments
// for mma.m16n8k8"): with g = lane / 4 and t = lane % 4, each lane holds
//   a[0] = A[g][t]   a[1] = A[g+8][t]   a[2] = A[g][t+4]   a[3] = A[g+8][t+4]
//   b[0] = B[t][g]   b[1] = B[t+4][g]
//   d[0] = D[g][2t]  d[1] = D[g][2t+1]  d[2] = D[g+8][2t]  d[3] = D[g+8][2t+1]
// On CUDA sm_80 and newer it is one tensor-core instruction. Elsewhere (the
// simulator, Metal, older CUDA) the same product is formed from 32 shuffles and
// float32 multiply-adds, k in order; a tensor core may add the 8 products in
// another order, so results agree to float32 rounding, not bit for bit.
//
// Inputs must already be TF32 values (sc_tf32_round): the tensor core ignores
// the low 13 mantissa bits, and the products of two TF32 values are exact in
// float32, so every backend multiplies the same numbers.
#pragma once
#include "gpu/dialect.h"

// x rounded to TF32 (10 explicit mantissa bits), to nearest with ties away from
// zero as CUDA's cvt.rna.tf32.f32; infinities and NaNs are kept.
SC_FN float sc_tf32_round(float x) {
  unsigned int u = SC_BITS_OF_FLOAT(x);
  if ((u & 0x7F800000u) != 0x7F800000u) u = (u + 0x1000u) & 0xFFFFE000u;
  return SC_FLOAT_OF_BITS(u);
}

// `lane` is SC_LANE (built-in indices exist only in kernel bodies on Metal).
SC_GROUP_FN void sc_mma_tf32_16x8x8(SC_THREAD float* d, SC_THREAD const float* a, SC_THREAD const float* b,
                                    unsigned int lane) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
  asm volatile(
      "mma.sync.aligned.m16n8k8.row.col.f32.tf32.tf32.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, "
      "{%0,%1,%2,%3};\n"
      : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
      : "r"(__float_as_uint(a[0])), "r"(__float_as_uint(a[1])), "r"(__float_as_uint(a[2])),
        "r"(__float_as_uint(a[3])), "r"(__float_as_uint(b[0])), "r"(__float_as_uint(b[1])));
  (void)lane;
#else
  const unsigned int g = lane >> 2, t = lane & 3u;
  for (unsigned int k = 0; k < 8u; ++k) {
    const unsigned int src = k & 3u;  // the lane column holding column / row k
    const bool hi = k >= 4u;          // in the second register of the pair
    const float a_top = sc_simd_shuffle(hi ? a[2] : a[0], g * 4u + src);      // A[g][k]
    const float a_bot = sc_simd_shuffle(hi ? a[3] : a[1], g * 4u + src);      // A[g+8][k]
    const float b_lo = sc_simd_shuffle(hi ? b[1] : b[0], (2u * t) * 4u + src);  // B[k][2t]
    const float b_hi = sc_simd_shuffle(hi ? b[1] : b[0], (2u * t + 1u) * 4u + src);  // B[k][2t+1]
    d[0] += a_top * b_lo;
    d[1] += a_top * b_hi;
    d[2] += a_bot * b_lo;
    d[3] += a_bot * b_hi;
  }
#endif
}
