// Argument struct of the im2col / col2im GPU kernels (gpu/kernels/conv.h),
// for one image of the conv geometry of ops/conv.cpp: input (C, H, W) in G
// groups, kernel (kh, kw), output (Ho, Wo); cols is (G, K = C/G*kh*kw, Ho*Wo).
#pragma once
#include "gpu/dialect.h"

template <typename T>
struct ScIm2colArgs {
  SC_PTR(T) image;       // (C, H, W): read by im2col, written by col2im
  SC_PTR(T) cols;        // (G, K, P): written by im2col, read by col2im
  sc_i64 C, H, W, G, kh, kw, Ho, Wo, sh, sw, ph, pw, dh, dw;
  sc_i64 oh0;            // im2col: first output row of the band (cols hold rows oh0 .. oh0 + Ho)
  sc_i32 small;          // im2col: 1 when every index fits 32 bits and G K <= 65535 (2-D grid)
  sc_i32 relu_in;        // im2col: columns of max(image, 0)
};
