// im2col and col2im on the GPU, so conv2d and conv_transpose2d become GEMMs
// (ops/conv.cpp's geometry). col2im is written as a gather: a thread per input
// element sums the column entries of every kernel tap that reads it, so no two
// threads write one element (no atomics, deterministic).
#pragma once
#include "gpu/kernels/conv_args.h"

#define SC_CONV_KERNELS(SUF, T)                                                         \
  SC_KERNEL(im2col_##SUF, ScIm2colArgs<T>) {                                           \
    const sc_i64 P = args.Ho * args.Wo, Cg = args.C / args.G;                          \
    const sc_i64 K = Cg * args.kh * args.kw;                                           \
    const sc_i64 e = (sc_i64)SC_GID_X * SC_GSIZE_X + SC_TID_X;                         \
    if (e >= args.G * K * P) return;                                                   \
    const sc_i64 p = e % P, row = (e / P) % K, g = e / (P * K);                        \
    const sc_i64 j = row % args.kw, i = (row / args.kw) % args.kh, c = row / (args.kw * args.kh); \
    const sc_i64 oh = p / args.Wo, ow = p - oh * args.Wo;                              \
    const sc_i64 h = oh * args.sh - args.ph + i * args.dh;                             \
    const sc_i64 w = ow * args.sw - args.pw + j * args.dw;                             \
    T v = (T)0;                                                                        \
    if (h >= 0 && h < args.H && w >= 0 && w < args.W)                                  \
      v = args.image[((g * Cg + c) * args.H + h) * args.W + w];                        \
    args.cols[e] = v;                                                                  \
  }                                                                                    \
  SC_KERNEL(col2im_##SUF, ScIm2colArgs<T>) {                                           \
    const sc_i64 P = args.Ho * args.Wo, Cg = args.C / args.G;                          \
    const sc_i64 K = Cg * args.kh * args.kw;                                           \
    const sc_i64 e = (sc_i64)SC_GID_X * SC_GSIZE_X + SC_TID_X;                         \
    if (e >= args.C * args.H * args.W) return;                                         \
    const sc_i64 w = e % args.W, h = (e / args.W) % args.H, cc = e / (args.W * args.H); \
    const sc_i64 g = cc / Cg, c = cc - g * Cg;                                         \
    T acc = (T)0;                                                                      \
    for (sc_i64 i = 0; i < args.kh; ++i) {                                             \
      const sc_i64 y = h + args.ph - i * args.dh;                                      \
      if (y < 0 || y % args.sh) continue;                                              \
      const sc_i64 oh = y / args.sh;                                                   \
      if (oh >= args.Ho) continue;                                                     \
      for (sc_i64 j = 0; j < args.kw; ++j) {                                           \
        const sc_i64 x = w + args.pw - j * args.dw;                                    \
        if (x < 0 || x % args.sw) continue;                                            \
        const sc_i64 ow = x / args.sw;                                                 \
        if (ow >= args.Wo) continue;                                                   \
        acc += args.cols[(g * K + (c * args.kh + i) * args.kw + j) * P + oh * args.Wo + ow]; \
      }                                                                                \
    }                                                                                  \
    args.image[e] = acc;                                                               \
  }
SC_GPU_FOR_FLOATS(SC_CONV_KERNELS)
