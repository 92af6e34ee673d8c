// Global alignment on the GPU: the fused loss-and-gradient pass of
// align/align.cpp over the per-pixel bodies of kernels/align.h.
//   align_setup    one group: cameras (R, T, focal) and edge similarities;
//   align_pixels   a group per work item (<= 256 pixels of one image): each
//                  thread takes a pixel through every edge view of its image,
//                  and the group sums the per-edge and per-image terms (a SIMD
//                  reduce-scatter, then the SIMD groups in order) into the
//                  item's partials; the log-depth gradient is written per pixel;
//   align_reduce   a thread per summed value adds the items' partials in order;
//   align_finish   one group: the parameter gradients from those sums.
// No atomics: the same inputs give the same bits.
#pragma once
#include "gpu/kernels/align_args.h"
#include "kernels/align.h"

// The group's sum of 16 values per thread (a full group of SC_ALIGN_GROUP
// threads) into result[0..16); scratch holds 16 per SIMD group.
template <typename T>
SC_GROUP_FN void sc_align_group_sum(SC_THREAD T* v, unsigned int local, SC_THREADGROUP T* scratch,
                                    SC_THREADGROUP T* result) {
  const unsigned int lane = local % 32u, simd = local / 32u;
  const T r = sc_simd_reduce_scatter<16>(v, lane);
  if ((lane & 1u) == 0u) scratch[simd * 16u + sc_reduce_scatter_index<16>(lane)] = r;
  SC_BARRIER();
  if (local < 16u) {
    T t = T(0);
    for (unsigned int s = 0; s < SC_ALIGN_GROUP / 32; ++s) t += scratch[s * 16u + local];
    result[local] = t;
  }
  SC_BARRIER();
}

template <typename T>
SC_GROUP_FN void sc_align_setup(SC_ARGS_REF(ScAlignArgs<T>) a, unsigned int local, SC_THREADGROUP T* part) {
  // norm_pw_scale: the edges' log-scales relative to their mean
  T s = T(0);
  for (sc_i64 e = local; e < a.E; e += SC_ALIGN_GROUP) s += a.pw_log_scale[e];
  part[local] = s;
  SC_BARRIER();
  T mean = T(0);
  for (unsigned int t = 0; t < SC_ALIGN_GROUP; ++t) mean += part[t];
  mean /= T(a.E);
  for (sc_i64 k = local; k < a.n; k += SC_ALIGN_GROUP) {
    SC_DEVICE T* cam = a.cams + k * SC_ALIGN_CAM;
    T R[9];
    sc_align_quat_to_rotmat<T>(a.quat[4 * k], a.quat[4 * k + 1], a.quat[4 * k + 2], a.quat[4 * k + 3], a.quat_eps, R);
    for (int i = 0; i < 9; ++i) cam[i] = R[i];
    for (int i = 0; i < 3; ++i) cam[9 + i] = sc_align_signed_expm1<T>(a.trans[3 * k + i]);
    T f = exp(a.log_focal[k] / a.focal_break);
    T clamped = T(0);
    const T fmin = a.image_f[4 * k + 2], fmax = a.image_f[4 * k + 3];
    if (!(f >= fmin)) f = fmin, clamped = T(1);  // NaN lands here too
    if (f > fmax) f = fmax, clamped = T(1);
    cam[12] = f;
    cam[13] = T(1) / f;
    cam[14] = clamped;
  }
  for (sc_i64 e = local; e < a.E; e += SC_ALIGN_GROUP) {
    SC_DEVICE T* ed = a.edges + e * SC_ALIGN_EDGE;
    T R[9];
    sc_align_quat_to_rotmat<T>(a.pw_quat[4 * e], a.pw_quat[4 * e + 1], a.pw_quat[4 * e + 2], a.pw_quat[4 * e + 3],
                               a.quat_eps, R);
    T sv = a.base_scale * exp(a.pw_log_scale[e] - mean);
    if (!(sv - sv == T(0))) sv = T(3.0e28);  // as the CPU: huge but finite
    for (int i = 0; i < 3; ++i) {
      const T t = sc_align_signed_expm1<T>(a.pw_trans[3 * e + i]);
      ed[22 + i] = t;
      ed[9 + i] = sv * t;
    }
    for (int i = 0; i < 9; ++i) {
      ed[i] = sv * R[i];
      ed[12 + i] = R[i];
    }
    ed[21] = sv;
  }
}

template <typename T>
SC_GROUP_FN void sc_align_pixels(SC_ARGS_REF(ScAlignArgs<T>) a, sc_i64 item, unsigned int local,
                                 SC_THREADGROUP T* scratch, SC_THREADGROUP T* result) {
  SC_DEVICE const sc_i64* it = a.item + 4 * item;
  const sc_i64 k = it[0], p = it[1] + local, poff = it[3];
  const bool valid = (sc_i64)local < it[2];
  SC_DEVICE const sc_i64* im = a.image_i + 7 * k;
  const sc_i64 gw = im[0], plane = im[0] * im[1], px0 = im[2], inc0 = im[3], ninc = im[4];
  T R[9], Tw[3];
  for (int i = 0; i < 9; ++i) R[i] = a.cams[k * SC_ALIGN_CAM + i];
  for (int i = 0; i < 3; ++i) Tw[i] = a.cams[k * SC_ALIGN_CAM + 9 + i];
  const T inv_f = a.cams[k * SC_ALIGN_CAM + 13];
  T c[3] = {T(0), T(0), T(0)}, X[3] = {T(0), T(0), T(0)};
  if (valid) {
    const T u = T(a.offset + a.stride * (p % gw)), v = T(a.offset + a.stride * (p / gw));
    sc_align_cam_point<T>(u, v, a.image_f[4 * k], a.image_f[4 * k + 1], inv_f, a.log_depth[px0 + p], c);
    sc_align_to_world<T>(R, Tw, c, X);
  }
  T gX[3] = {T(0), T(0), T(0)};
  T loss = T(0);
  for (sc_i64 q = 0; q < ninc; ++q) {
    SC_DEVICE const sc_i64* in = a.inc + 3 * (inc0 + q);
    const sc_i64 d = in[0], e = in[1];
    const T scale = in[2] ? a.inv_area2 : a.inv_area1;
    T A[9], b[3];
    for (int i = 0; i < 9; ++i) A[i] = a.edges[e * SC_ALIGN_EDGE + i];
    for (int i = 0; i < 3; ++i) b[i] = a.edges[e * SC_ALIGN_EDGE + 9 + i];
    T v[16];
    for (int i = 0; i < 16; ++i) v[i] = T(0);
    if (valid) {
      const T y0 = a.data[d + p], y1 = a.data[d + plane + p], y2 = a.data[d + 2 * plane + p];
      const T w = a.data[d + 3 * plane + p];
      T g[3];
      v[12] = sc_align_residual<T>(X[0], X[1], X[2], y0, y1, y2, w, A, b, a.eps, g);
      const T y[3] = {y0, y1, y2};
      for (int i = 0; i < 3; ++i) {
        gX[i] += scale * g[i];
        v[i] = g[i];
        for (int j = 0; j < 3; ++j) v[3 + 3 * i + j] = g[i] * y[j];
      }
    }
    sc_align_group_sum(v, local, scratch, result);
    if (local < (unsigned int)SC_ALIGN_INC_ACC)
      a.partials[poff + 1 + SC_ALIGN_IMG_ACC + SC_ALIGN_INC_ACC * q + local] = result[local] * scale;
    loss += result[12] * scale;
  }
  if (a.need_grad) {
    T v[16];
    for (int i = 0; i < 16; ++i) v[i] = T(0);
    if (valid) {
      T df;
      a.g_log_depth[px0 + p] = sc_align_pixel_backward<T>(gX, R, c, inv_f, &df);
      for (int i = 0; i < 3; ++i) {
        v[i] = gX[i];
        for (int j = 0; j < 3; ++j) v[3 + 3 * i + j] = gX[i] * c[j];
      }
      v[12] = df;
    }
    sc_align_group_sum(v, local, scratch, result);
    if (local < (unsigned int)SC_ALIGN_IMG_ACC) a.partials[poff + 1 + local] = result[local];
  }
  if (local == 0u) a.partials[poff] = loss;
}

// Thread t: t = 0 the loss; then (image, value) pairs; then (edge, value) pairs.
template <typename T>
SC_FN void sc_align_reduce(SC_ARGS_REF(ScAlignArgs<T>) a, sc_i64 t) {
  if (t == 0) {
    T s = T(0);
    for (sc_i64 i = 0; i < a.items; ++i) s += a.partials[a.item[4 * i + 3]];
    a.loss[0] = s;
    return;
  }
  t -= 1;
  if (t < a.n * SC_ALIGN_IMG_ACC) {
    const sc_i64 k = t / SC_ALIGN_IMG_ACC, v = t % SC_ALIGN_IMG_ACC;
    SC_DEVICE const sc_i64* im = a.image_i + 7 * k;
    T s = T(0);
    for (sc_i64 i = im[5]; i < im[5] + im[6]; ++i) s += a.partials[a.item[4 * i + 3] + 1 + v];
    a.image_sums[t] = s;
    return;
  }
  t -= a.n * SC_ALIGN_IMG_ACC;
  const sc_i64 e = t / SC_ALIGN_INC_ACC, v = t % SC_ALIGN_INC_ACC;
  T s = T(0);
  for (int side = 0; side < 2; ++side) {  // the edge's view in image i, then in image j
    SC_DEVICE const sc_i64* im = a.image_i + 7 * a.edge_inc[4 * e + 2 * side];
    const sc_i64 q = a.edge_inc[4 * e + 2 * side + 1];
    for (sc_i64 i = im[5]; i < im[5] + im[6]; ++i)
      s += a.partials[a.item[4 * i + 3] + 1 + SC_ALIGN_IMG_ACC + SC_ALIGN_INC_ACC * q + v];
  }
  a.edge_sums[t] = s;
}

template <typename T>
SC_GROUP_FN void sc_align_finish(SC_ARGS_REF(ScAlignArgs<T>) a, unsigned int local, SC_THREADGROUP T* part) {
  for (sc_i64 k = local; k < a.n; k += SC_ALIGN_GROUP) {
    SC_DEVICE const T* S = a.image_sums + k * SC_ALIGN_IMG_ACC;
    SC_DEVICE const T* cam = a.cams + k * SC_ALIGN_CAM;
    T dR[9], dq[4];
    for (int i = 0; i < 9; ++i) dR[i] = S[3 + i];
    sc_align_quat_backward<T>(a.quat[4 * k], a.quat[4 * k + 1], a.quat[4 * k + 2], a.quat[4 * k + 3], a.quat_eps, dR,
                              dq);
    for (int i = 0; i < 4; ++i) a.g_quat[4 * k + i] = dq[i];
    for (int i = 0; i < 3; ++i) a.g_trans[3 * k + i] = S[i] * sc_align_signed_expm1_grad<T>(a.trans[3 * k + i]);
    a.g_log_focal[k] = cam[14] != T(0) ? T(0) : S[12] * cam[12] / a.focal_break;
  }
  T sds = T(0);
  for (sc_i64 e = local; e < a.E; e += SC_ALIGN_GROUP) {
    SC_DEVICE const T* G = a.edge_sums + e * SC_ALIGN_INC_ACC;
    SC_DEVICE const T* ed = a.edges + e * SC_ALIGN_EDGE;
    const T sv = ed[21];
    T dR[9], dq[4], mr = T(0);
    for (int i = 0; i < 9; ++i) {
      dR[i] = -sv * G[3 + i];
      mr += G[3 + i] * ed[12 + i];
    }
    sc_align_quat_backward<T>(a.pw_quat[4 * e], a.pw_quat[4 * e + 1], a.pw_quat[4 * e + 2], a.pw_quat[4 * e + 3],
                              a.quat_eps, dR, dq);
    for (int i = 0; i < 4; ++i) a.g_pw_quat[4 * e + i] = dq[i];
    for (int i = 0; i < 3; ++i)
      a.g_pw_trans[3 * e + i] = -sv * G[i] * sc_align_signed_expm1_grad<T>(a.pw_trans[3 * e + i]);
    const T ds = -(mr + G[0] * ed[22] + G[1] * ed[23] + G[2] * ed[24]);
    a.g_pw_log_scale[e] = sv * ds;  // less the mean below (norm_pw_scale)
    sds += sv * ds;
  }
  part[local] = sds;
  SC_BARRIER();
  T mean = T(0);
  for (unsigned int t = 0; t < SC_ALIGN_GROUP; ++t) mean += part[t];
  mean /= T(a.E);
  for (sc_i64 e = local; e < a.E; e += SC_ALIGN_GROUP) a.g_pw_log_scale[e] -= mean;
}

#define SC_ALIGN_KERNELS(SUF, T)                                                      \
  SC_KERNEL(align_setup_##SUF, ScAlignArgs<T>) {                                      \
    SC_SHARED(T, part, SC_ALIGN_GROUP);                                               \
    sc_align_setup<T>(args, SC_TID_X, part);                                          \
  }                                                                                   \
  SC_KERNEL(align_pixels_##SUF, ScAlignArgs<T>) {                                     \
    SC_SHARED(T, scratch, 16 * (SC_ALIGN_GROUP / 32));                                \
    SC_SHARED(T, result, 16);                                                         \
    sc_align_pixels<T>(args, SC_GID_X, SC_TID_X, scratch, result);                    \
  }                                                                                   \
  SC_KERNEL(align_reduce_##SUF, ScAlignArgs<T>) {                                     \
    const sc_i64 t = (sc_i64)SC_GID_X * SC_GSIZE_X + SC_TID_X;                        \
    if (t < 1 + args.n * SC_ALIGN_IMG_ACC + args.E * SC_ALIGN_INC_ACC) sc_align_reduce<T>(args, t); \
  }                                                                                   \
  SC_KERNEL(align_finish_##SUF, ScAlignArgs<T>) {                                     \
    SC_SHARED(T, part, SC_ALIGN_GROUP);                                               \
    sc_align_finish<T>(args, SC_TID_X, part);                                         \
  }
SC_GPU_FOR_FLOATS(SC_ALIGN_KERNELS)
