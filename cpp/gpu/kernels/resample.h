// Bilinear upsampling on the GPU (torch's align_corners semantics), a thread
// per output pixel over the per-element bodies of kernels/resample.h; the
// backward spreads each output gradient over its four taps with atomics.
#pragma once
#include "gpu/kernels/resample_args.h"
#include "kernels/resample.h"

// Output pixel e: its plane and the taps along y and x.
template <typename T>
SC_FN void sc_bilinear_taps(SC_ARGS_REF(ScBilinearArgs<T>) a, sc_i64 e, SC_THREAD sc_i64* p,
                            SC_THREAD ScLerp<T>* ly, SC_THREAD ScLerp<T>* lx) {
  const sc_i64 per_plane = (sc_i64)a.Ho * a.Wo;
  *p = e / per_plane;
  const sc_i32 oh = (sc_i32)((e - *p * per_plane) / a.Wo), ow = (sc_i32)(e % a.Wo);
  *ly = sc_bilinear_coord<T>(oh, a.H, a.Ho, a.align_corners != 0);
  *lx = sc_bilinear_coord<T>(ow, a.W, a.Wo, a.align_corners != 0);
}

#define SC_BILINEAR_KERNELS(SUF, T)                                                  \
  SC_KERNEL(bilinear_forward_##SUF, ScBilinearArgs<T>) {                            \
    const sc_i64 e = (sc_i64)SC_GID_X * SC_GSIZE_X + SC_TID_X;                      \
    if (e >= args.planes * args.Ho * args.Wo) return;                               \
    sc_i64 p;                                                                       \
    ScLerp<T> ly, lx;                                                               \
    sc_bilinear_taps<T>(args, e, &p, &ly, &lx);                                     \
    args.dst[e] = sc_bilinear_sample<T>(args.src + p * args.H * args.W, args.W, ly, lx); \
  }                                                                                 \
  SC_KERNEL(bilinear_backward_##SUF, ScBilinearArgs<T>) {                           \
    const sc_i64 e = (sc_i64)SC_GID_X * SC_GSIZE_X + SC_TID_X;                      \
    if (e >= args.planes * args.Ho * args.Wo) return;                               \
    sc_i64 p;                                                                       \
    ScLerp<T> ly, lx;                                                               \
    sc_bilinear_taps<T>(args, e, &p, &ly, &lx);                                     \
    const T g = args.src[e];                                                        \
    SC_PTR(T) plane = args.dst + p * args.H * args.W;                               \
    const T gt = g * (T(1) - ly.w1), gb = g * ly.w1;                                \
    sc_atomic_add(&plane[ly.i0 * args.W + lx.i0], gt * (T(1) - lx.w1));             \
    sc_atomic_add(&plane[ly.i0 * args.W + lx.i1], gt * lx.w1);                      \
    sc_atomic_add(&plane[ly.i1 * args.W + lx.i0], gb * (T(1) - lx.w1));             \
    sc_atomic_add(&plane[ly.i1 * args.W + lx.i1], gb * lx.w1);                      \
  }
SC_GPU_FOR_FLOATS(SC_BILINEAR_KERNELS)
