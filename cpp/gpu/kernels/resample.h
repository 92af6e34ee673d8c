// Bilinear upsampling on the GPU (torch's align_corners semantics), a thread
// per output pixel over the per-element bodies of kernels/resample.h; the
// backward spreads each output gradient over its four taps with atomics.
#pragma once
#include "gpu/kernels/resample_args.h"
#include "kernels/resample.h"

#define SC_BILINEAR_KERNELS(SUF, T)                                                  \
  SC_KERNEL(bilinear_forward_##SUF, ScBilinearArgs<T>) {                            \
    const sc_i64 e = (sc_i64)SC_GID_X * SC_GSIZE_X + SC_TID_X;                      \
    const sc_i64 per_plane = (sc_i64)args.Ho * args.Wo;                             \
    if (e >= args.planes * per_plane) return;                                       \
    const sc_i64 p = e / per_plane;                                                 \
    const sc_i32 oh = (sc_i32)((e - p * per_plane) / args.Wo), ow = (sc_i32)(e % args.Wo); \
    ScLerp<T> ly = sc_bilinear_coord<T>(oh, args.H, args.Ho, args.align_corners != 0); \
    ScLerp<T> lx = sc_bilinear_coord<T>(ow, args.W, args.Wo, args.align_corners != 0); \
    args.dst[e] = sc_bilinear_sample<T>(args.src + p * args.H * args.W, args.W, ly, lx); \
  }                                                                                 \
  SC_KERNEL(bilinear_backward_##SUF, ScBilinearArgs<T>) {                           \
    const sc_i64 e = (sc_i64)SC_GID_X * SC_GSIZE_X + SC_TID_X;                      \
    const sc_i64 per_plane = (sc_i64)args.Ho * args.Wo;                             \
    if (e >= args.planes * per_plane) return;                                       \
    const sc_i64 p = e / per_plane;                                                 \
    const sc_i32 oh = (sc_i32)((e - p * per_plane) / args.Wo), ow = (sc_i32)(e % args.Wo); \
    ScLerp<T> ly = sc_bilinear_coord<T>(oh, args.H, args.Ho, args.align_corners != 0); \
    ScLerp<T> lx = sc_bilinear_coord<T>(ow, args.W, args.Wo, args.align_corners != 0); \
    const T g = args.src[e];                                                        \
    SC_PTR(T) plane = args.dst + p * args.H * args.W;                               \
    const T gt = g * (T(1) - ly.w1), gb = g * ly.w1;                                \
    sc_atomic_add(&plane[ly.i0 * args.W + lx.i0], gt * (T(1) - lx.w1));             \
    sc_atomic_add(&plane[ly.i0 * args.W + lx.i1], gt * lx.w1);                      \
    sc_atomic_add(&plane[ly.i1 * args.W + lx.i0], gb * (T(1) - lx.w1));             \
    sc_atomic_add(&plane[ly.i1 * args.W + lx.i1], gb * lx.w1);                      \
  }
SC_GPU_FOR_FLOATS(SC_BILINEAR_KERNELS)
