// im2col and col2im on the GPU, so conv2d and conv_transpose2d become GEMMs
// (ops/conv.cpp's geometry). im2col has a 32-bit form on a 2-D grid (a group
// row per column-matrix row, threads over output pixels) for the sizes that
// fit, which saves the 64-bit divisions of the general form (small = 1). It can
// also take a band of output rows (oh0, Ho rows) of the full image, whose taps
// outside the image read zeros, and apply a ReLU to what it reads (relu_in). col2im is written as a gather: a thread per input
// element sums the column entries of every kernel tap that reads it, so no two
// threads write one element (no atomics, deterministic).
#pragma once
#include "gpu/kernels/conv_args.h"

#define SC_IM2COL_PIXELS 4  // output pixels per thread of the 32-bit im2col

#define SC_CONV_KERNELS(SUF, T)                                                         \
  SC_KERNEL(im2col_##SUF, ScIm2colArgs<T>) {                                           \
    if (args.small) {                                                                  \
      /* 32-bit indices: y is the column-matrix row (g, c, i, j), decoded once for */   \
      /* SC_IM2COL_PIXELS output pixels per thread, a group's threads side by side  */   \
      const int P = (int)(args.Ho * args.Wo);                                          \
      const int kw = (int)args.kw, kh = (int)args.kh, Wo = (int)args.Wo;               \
      const int H = (int)args.H, W = (int)args.W;                                      \
      const int grow = (int)SC_GID_Y, j = grow % kw, i = (grow / kw) % kh, cc = grow / (kw * kh); \
      const int hoff = (int)args.oh0 * (int)args.sh - (int)args.ph + i * (int)args.dh;  \
      const int woff = j * (int)args.dw - (int)args.pw;                               \
      SC_PTR(T) plane = args.image + cc * H * W;                                       \
      SC_PTR(T) out = args.cols + grow * P;                                            \
      for (int k = 0; k < SC_IM2COL_PIXELS; ++k) {                                     \
        const int p = ((int)SC_GID_X * SC_IM2COL_PIXELS + k) * (int)SC_GSIZE_X + (int)SC_TID_X; \
        if (p >= P) return;                                                            \
        const int oh = p / Wo, ow = p - oh * Wo;                                       \
        const int h = oh * (int)args.sh + hoff, w = ow * (int)args.sw + woff;          \
        T v = (T)0;                                                                    \
        if (h >= 0 && h < H && w >= 0 && w < W) v = plane[h * W + w];                  \
        out[p] = args.relu_in && v < (T)0 ? (T)0 : v;                                  \
      }                                                                                \
      return;                                                                          \
    }                                                                                  \
    const sc_i64 P = args.Ho * args.Wo, Cg = args.C / args.G;                          \
    const sc_i64 K = Cg * args.kh * args.kw;                                           \
    const sc_i64 e = (sc_i64)SC_GID_X * SC_GSIZE_X + SC_TID_X;                         \
    if (e >= args.G * K * P) return;                                                   \
    const sc_i64 p = e % P, row = (e / P) % K, g = e / (P * K);                        \
    const sc_i64 j = row % args.kw, i = (row / args.kw) % args.kh, c = row / (args.kw * args.kh); \
    const sc_i64 oh = p / args.Wo, ow = p - oh * args.Wo;                              \
    const sc_i64 h = (oh + args.oh0) * args.sh - args.ph + i * args.dh;               \
    const sc_i64 w = ow * args.sw - args.pw + j * args.dw;                             \
    T v = (T)0;                                                                        \
    if (h >= 0 && h < args.H && w >= 0 && w < args.W)                                  \
      v = args.image[((g * Cg + c) * args.H + h) * args.W + w];                        \
    args.cols[e] = args.relu_in && v < (T)0 ? (T)0 : v;                                                                  \
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
