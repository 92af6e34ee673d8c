// EWA splatting of one 3D Gaussian through a pinhole camera (Zwicker et al.
// 2001; 3DGS, Kerbl et al. 2023, eqs. 5-6), with the conventions of gsplat:
// world-to-camera x_c = R x + t, +z forward, Jacobian evaluated at the point
// clamped to 1.3x the field of view, a 0.3 px low-pass added to the 2D
// covariance, optional "antialiased" opacity compensation.
#pragma once
#include "kernels/compat.h"

template <typename T>
struct ScCamera {  // plain scalars: usable on every backend
  T R[9];          // row-major world-to-camera rotation
  T t[3];
  T fx, fy, cx, cy;
  int width, height;
  T near_plane, far_plane, eps2d;
};

// Rotation matrix (row-major) of the unit quaternion (w, x, y, z).
template <typename T>
SC_FN void sc_quat_to_rotmat(T w, T x, T y, T z, SC_THREAD T* R) {
  R[0] = T(1) - T(2) * (y * y + z * z); R[1] = T(2) * (x * y - w * z);        R[2] = T(2) * (x * z + w * y);
  R[3] = T(2) * (x * y + w * z);        R[4] = T(1) - T(2) * (x * x + z * z); R[5] = T(2) * (y * z - w * x);
  R[6] = T(2) * (x * z - w * y);        R[7] = T(2) * (y * z + w * x);        R[8] = T(1) - T(2) * (x * x + y * y);
}

// 3x3 helpers on row-major arrays.
template <typename T>
SC_FN void sc_mat3_mul(SC_THREAD const T* A, SC_THREAD const T* B, SC_THREAD T* C) {
  for (int i = 0; i < 3; ++i)
    for (int j = 0; j < 3; ++j)
      C[i * 3 + j] = A[i * 3] * B[j] + A[i * 3 + 1] * B[3 + j] + A[i * 3 + 2] * B[6 + j];
}
// C = A * B^T
template <typename T>
SC_FN void sc_mat3_mul_bt(SC_THREAD const T* A, SC_THREAD const T* B, SC_THREAD T* C) {
  for (int i = 0; i < 3; ++i)
    for (int j = 0; j < 3; ++j)
      C[i * 3 + j] = A[i * 3] * B[j * 3] + A[i * 3 + 1] * B[j * 3 + 1] + A[i * 3 + 2] * B[j * 3 + 2];
}
// C = A^T * B
template <typename T>
SC_FN void sc_mat3_mul_at(SC_THREAD const T* A, SC_THREAD const T* B, SC_THREAD T* C) {
  for (int i = 0; i < 3; ++i)
    for (int j = 0; j < 3; ++j)
      C[i * 3 + j] = A[i] * B[j] + A[3 + i] * B[3 + j] + A[6 + i] * B[6 + j];
}

// Everything the forward computes for one Gaussian (and the backward recomputes).
template <typename T>
struct ScProjected {
  T q[4];          // normalised quaternion
  T qnorm;         // |raw quaternion|
  T Rq[9];         // its rotation
  T M[9];          // Rq * diag(scale)
  T cov3[9];       // M M^T (world)
  T pc[3];         // camera-space mean
  T covc[9];       // camera-space covariance
  T J[6];          // 2x3 Jacobian (row-major)
  bool clip_x, clip_y;
  T cov2[3];       // 2D covariance before the low-pass: a, b, c of [[a,b],[b,c]]
  T cov2b[3];      // after the low-pass
  T det_orig, det;
  T conic[3];      // inverse of cov2b: [[A,B],[B,C]] as A, B, C
  T mean2d[2];
  T compensation;  // sqrt(det_orig / det), the antialiased opacity factor
  bool valid;      // in front of the near plane, inside far, det > 0
};

// Projects one Gaussian. Returns the intermediates in P; P.valid says whether it survives.
// The slopes x/z, y/z clamped to 1.3x the field of view, where the EWA
// Jacobian is evaluated (as the original 3DGS and gsplat do); clip_* tell
// whether the clamp was active.
template <typename T>
SC_FN void sc_clamped_slopes(ScCamera<T> cam, T ux, T uy, SC_THREAD T& cux, SC_THREAD T& cuy,
                             SC_THREAD bool& clip_x, SC_THREAD bool& clip_y) {
  T fx = T(cam.fx), fy = T(cam.fy);
  T tan_fovx = T(0.5) * T(cam.width) / fx, tan_fovy = T(0.5) * T(cam.height) / fy;
  T lim_x_pos = (T(cam.width) - T(cam.cx)) / fx + T(0.3) * tan_fovx;
  T lim_x_neg = T(cam.cx) / fx + T(0.3) * tan_fovx;
  T lim_y_pos = (T(cam.height) - T(cam.cy)) / fy + T(0.3) * tan_fovy;
  T lim_y_neg = T(cam.cy) / fy + T(0.3) * tan_fovy;
  clip_x = ux > lim_x_pos || ux < -lim_x_neg;
  clip_y = uy > lim_y_pos || uy < -lim_y_neg;
  cux = ux > lim_x_pos ? lim_x_pos : (ux < -lim_x_neg ? -lim_x_neg : ux);
  cuy = uy > lim_y_pos ? lim_y_pos : (uy < -lim_y_neg ? -lim_y_neg : uy);
}

template <typename T>
SC_FN void sc_project_gaussian(SC_DEVICE const T* mean, SC_DEVICE const T* quat,
                               SC_DEVICE const T* scale, ScCamera<T> cam, SC_THREAD ScProjected<T>& P) {
  T Rv[9];
  for (int i = 0; i < 9; ++i) Rv[i] = T(cam.R[i]);
  for (int i = 0; i < 3; ++i)
    P.pc[i] = Rv[i * 3] * mean[0] + Rv[i * 3 + 1] * mean[1] + Rv[i * 3 + 2] * mean[2] + T(cam.t[i]);
  P.valid = P.pc[2] >= T(cam.near_plane) && P.pc[2] <= T(cam.far_plane);
  T qn = sqrt(quat[0] * quat[0] + quat[1] * quat[1] + quat[2] * quat[2] + quat[3] * quat[3]);
  P.qnorm = qn;
  T inv_qn = qn > T(0) ? T(1) / qn : T(0);
  for (int i = 0; i < 4; ++i) P.q[i] = quat[i] * inv_qn;
  sc_quat_to_rotmat(P.q[0], P.q[1], P.q[2], P.q[3], P.Rq);
  for (int i = 0; i < 3; ++i)
    for (int j = 0; j < 3; ++j) P.M[i * 3 + j] = P.Rq[i * 3 + j] * scale[j];
  sc_mat3_mul_bt(P.M, P.M, P.cov3);
  T tmp[9];
  sc_mat3_mul(Rv, P.cov3, tmp);
  sc_mat3_mul_bt(tmp, Rv, P.covc);

  T x = P.pc[0], y = P.pc[1], z = P.pc[2];
  T rz = z != T(0) ? T(1) / z : T(0);
  T fx = T(cam.fx), fy = T(cam.fy);
  T ux = x * rz, uy = y * rz, cux, cuy;
  sc_clamped_slopes(cam, ux, uy, cux, cuy, P.clip_x, P.clip_y);
  T tx = z * cux, ty = z * cuy;
  P.J[0] = fx * rz; P.J[1] = T(0);    P.J[2] = -fx * tx * rz * rz;
  P.J[3] = T(0);    P.J[4] = fy * rz; P.J[5] = -fy * ty * rz * rz;
  // cov2 = J covc J^T
  T JC[6];
  for (int i = 0; i < 2; ++i)
    for (int j = 0; j < 3; ++j)
      JC[i * 3 + j] = P.J[i * 3] * P.covc[j] + P.J[i * 3 + 1] * P.covc[3 + j] + P.J[i * 3 + 2] * P.covc[6 + j];
  P.cov2[0] = JC[0] * P.J[0] + JC[1] * P.J[1] + JC[2] * P.J[2];
  P.cov2[1] = JC[0] * P.J[3] + JC[1] * P.J[4] + JC[2] * P.J[5];
  P.cov2[2] = JC[3] * P.J[3] + JC[4] * P.J[4] + JC[5] * P.J[5];
  T eps = T(cam.eps2d);
  P.cov2b[0] = P.cov2[0] + eps;
  P.cov2b[1] = P.cov2[1];
  P.cov2b[2] = P.cov2[2] + eps;
  P.det_orig = P.cov2[0] * P.cov2[2] - P.cov2[1] * P.cov2[1];
  P.det = P.cov2b[0] * P.cov2b[2] - P.cov2b[1] * P.cov2b[1];
  if (!(P.det > T(0))) P.valid = false;
  T inv_det = P.det > T(0) ? T(1) / P.det : T(0);
  P.conic[0] = P.cov2b[2] * inv_det;
  P.conic[1] = -P.cov2b[1] * inv_det;
  P.conic[2] = P.cov2b[0] * inv_det;
  T ratio = P.det_orig * inv_det;
  P.compensation = ratio > T(0) ? sqrt(ratio) : T(0);
  P.mean2d[0] = fx * x * rz + T(cam.cx);
  P.mean2d[1] = fy * y * rz + T(cam.cy);
}

// Conservative early cull, before the covariance is built: true when even the
// largest footprint the Gaussian could have leaves every pixel centre uncovered.
// cov2b_xx = J0 covc J0^T + eps2d <= |J0|^2 s_max^2 + eps2d, with |J0|^2 =
// (fx/z)^2 (1 + u^2) at the clamped slope u used by sc_project_gaussian (same
// for y), and r2 <= 2 ln(255 opacity) (antialiasing only lowers the opacity).
// It only skips work: whatever it keeps goes through the exact test.
template <typename T>
SC_FN bool sc_surely_off_screen(T x, T y, T z, SC_DEVICE const T* scale, T opacity, ScCamera<T> cam) {
  if (!(opacity > T(0))) return true;  // r2 <= 0: never visible
  T r2 = opacity <= T(1) ? T(11.0904) : T(2) * log(T(255) * opacity);  // 2 ln 255 = 11.09035
  T s = fabs(scale[0]);
  s = fabs(scale[1]) > s ? fabs(scale[1]) : s;
  s = fabs(scale[2]) > s ? fabs(scale[2]) : s;
  T rz = T(1) / z;
  T fx = T(cam.fx), fy = T(cam.fy), W = T(cam.width), H = T(cam.height);
  T ux = x * rz, uy = y * rz, cx, cy;
  bool clip_x, clip_y;
  sc_clamped_slopes(cam, ux, uy, cx, cy, clip_x, clip_y);
  T hx = sqrt(r2 * ((fx * rz) * (fx * rz) * (T(1) + cx * cx) * s * s + T(cam.eps2d)));
  T hy = sqrt(r2 * ((fy * rz) * (fy * rz) * (T(1) + cy * cy) * s * s + T(cam.eps2d)));
  hx = hx * T(1.001) + T(0.01);  // margin for rounding differences with the exact path
  hy = hy * T(1.001) + T(0.01);
  T mx = fx * ux + T(cam.cx), my = fy * uy + T(cam.cy);
  return mx + hx < T(0.5) || mx - hx > W - T(0.5) || my + hy < T(0.5) || my - hy > H - T(0.5);
}

// Half extents (in pixels, before ceil) of the box holding every pixel centre
// where opacity * exp(-0.5 d^T conic d) >= 1/255, i.e. d^T conic d <= r2 with
// r2 = 2 ln(255 opacity): the bounding box of that ellipse is
// sqrt(r2 * cov2b_xx) by sqrt(r2 * cov2b_yy). Returns r2 (<= 0: invisible).
template <typename T>
SC_FN T sc_footprint(SC_THREAD const ScProjected<T>& P, T opacity, SC_THREAD T* half_extent) {
  T r2 = opacity > T(0) ? T(2) * log(T(255) * opacity) : T(-1);
  if (r2 <= T(0)) {
    half_extent[0] = T(0);
    half_extent[1] = T(0);
    return r2;
  }
  half_extent[0] = sqrt(r2 * P.cov2b[0]);
  half_extent[1] = sqrt(r2 * P.cov2b[2]);
  return r2;
}

// Smallest value of d^T conic d over d in [x0, x1] x [y0, y1] (offsets of a
// rectangle of pixel centres from the 2D mean). Exact for a positive-definite
// conic: 0 inside, otherwise the least of the four edge minima.
// Written with selects only (no early return; each division by a divisor that is
// 1 where its quotient is not used), so that a loop of them vectorises on the
// CPU (splat/binning_target.cpp runs it over batches of tiles).
template <typename T>
SC_FN T sc_min_quadratic_on_rect(T A, T B, T C, T x0, T x1, T y0, T y1) {
  const bool inside = (x0 <= T(0)) & (T(0) <= x1) & (y0 <= T(0)) & (T(0) <= y1);
  const T Cd = C > T(0) ? C : T(1), Ad = A > T(0) ? A : T(1);
  T best = T(3.0e38);
  // vertical edges: x fixed, minimise A x^2 + 2B x y + C y^2 over y
  for (int e = 0; e < 2; ++e) {
    const T x = e == 0 ? x0 : x1;
    const T yq = -B * x / Cd;
    T y = C > T(0) ? yq : y0;
    y = y < y0 ? y0 : (y > y1 ? y1 : y);
    const T q = A * x * x + T(2) * B * x * y + C * y * y;
    best = q < best ? q : best;
  }
  for (int e = 0; e < 2; ++e) {  // horizontal edges
    const T y = e == 0 ? y0 : y1;
    const T xq = -B * y / Ad;
    T x = A > T(0) ? xq : x0;
    x = x < x0 ? x0 : (x > x1 ? x1 : x);
    const T q = A * x * x + T(2) * B * x * y + C * y * y;
    best = q < best ? q : best;
  }
  return inside ? T(0) : best;
}

// Backward of sc_project_gaussian. Inputs: the recomputed forward P, and the
// gradients of the loss w.r.t. mean2d (2), depth z (1), conic (3: A, B, C as
// used in sigma = 0.5 (A dx^2 + C dy^2) + B dx dy) and compensation (1).
// Outputs: v_mean (3), v_quat (4, w.r.t. the raw quaternion), v_scale (3),
// v_R (9, world-to-camera rotation), v_t (3): all overwritten.
template <typename T>
SC_FN void sc_project_gaussian_backward(SC_DEVICE const T* mean, SC_DEVICE const T* scale,
                                        ScCamera<T> cam, SC_THREAD const ScProjected<T>& P,
                                        SC_THREAD const T* v_mean2d, T v_depth,
                                        SC_THREAD const T* v_conic, T v_comp,
                                        SC_THREAD T* v_mean, SC_THREAD T* v_quat,
                                        SC_THREAD T* v_scale, SC_THREAD T* v_R, SC_THREAD T* v_t) {
  T Rv[9];
  for (int i = 0; i < 9; ++i) Rv[i] = T(cam.R[i]);
  T fx = T(cam.fx), fy = T(cam.fy);
  T x = P.pc[0], y = P.pc[1], z = P.pc[2];
  T rz = T(1) / z, rz2 = rz * rz, rz3 = rz2 * rz;

  // conic = inverse(cov2b): V_cov2b = -P V_P P with V_P = [[vA, vB/2], [vB/2, vC]].
  T A = P.conic[0], B = P.conic[1], C = P.conic[2];
  T pa = v_conic[0], pb = T(0.5) * v_conic[1], pc = v_conic[2];
  // (P V_P) then (.) P, all symmetric 2x2
  T m00 = A * pa + B * pb, m01 = A * pb + B * pc, m10 = B * pa + C * pb, m11 = B * pb + C * pc;
  T g00 = -(m00 * A + m01 * B), g01 = -(m00 * B + m01 * C);
  T g10 = -(m10 * A + m11 * B), g11 = -(m10 * B + m11 * C);
  // compensation = sqrt(det_orig / det): d comp = comp/2 (inv(cov2) - inv(cov2b)) : d cov2
  if (v_comp != T(0) && P.compensation > T(0) && P.det_orig > T(0)) {
    T inv_do = T(1) / P.det_orig;
    T k = T(0.5) * P.compensation * v_comp;
    g00 += k * (P.cov2[2] * inv_do - A);
    g01 += k * (-P.cov2[1] * inv_do - B);
    g10 += k * (-P.cov2[1] * inv_do - B);
    g11 += k * (P.cov2[0] * inv_do - C);
  }
  // cov2 = J covc J^T: V_covc = J^T G J, V_J = G J covc^T + G^T J covc (covc symmetric).
  T G[4] = {g00, g01, g10, g11};
  T GJ[6], GtJ[6];
  for (int i = 0; i < 2; ++i)
    for (int j = 0; j < 3; ++j) {
      GJ[i * 3 + j] = G[i * 2] * P.J[j] + G[i * 2 + 1] * P.J[3 + j];
      GtJ[i * 3 + j] = G[i] * P.J[j] + G[2 + i] * P.J[3 + j];
    }
  T V_covc[9];
  for (int i = 0; i < 3; ++i)
    for (int j = 0; j < 3; ++j) V_covc[i * 3 + j] = P.J[i] * GJ[j] + P.J[3 + i] * GJ[3 + j];
  T V_J[6];
  for (int i = 0; i < 2; ++i)
    for (int j = 0; j < 3; ++j) {
      T s = T(0);
      for (int k = 0; k < 3; ++k) s += (GJ[i * 3 + k] + GtJ[i * 3 + k]) * P.covc[j * 3 + k];
      V_J[i * 3 + j] = s;
    }
  // J(x, y, z) and mean2d(x, y, z) -> v_pc
  T v_pc[3];
  v_pc[0] = fx * rz * v_mean2d[0];
  v_pc[1] = fy * rz * v_mean2d[1];
  v_pc[2] = -fx * x * rz2 * v_mean2d[0] - fy * y * rz2 * v_mean2d[1] + v_depth;
  v_pc[2] += -fx * rz2 * V_J[0] - fy * rz2 * V_J[4];
  // J02 = -fx tx / z^2 with tx = x (unclipped) or z * limit (clipped).
  T tx = P.J[2] / (-fx * rz2), ty = P.J[5] / (-fy * rz2);
  if (P.clip_x) {
    v_pc[2] += fx * tx * rz3 * V_J[2];
  } else {
    v_pc[0] += -fx * rz2 * V_J[2];
    v_pc[2] += T(2) * fx * tx * rz3 * V_J[2];
  }
  if (P.clip_y) {
    v_pc[2] += fy * ty * rz3 * V_J[5];
  } else {
    v_pc[1] += -fy * rz2 * V_J[5];
    v_pc[2] += T(2) * fy * ty * rz3 * V_J[5];
  }
  // pc = Rv mean + t
  for (int j = 0; j < 3; ++j) v_mean[j] = Rv[j] * v_pc[0] + Rv[3 + j] * v_pc[1] + Rv[6 + j] * v_pc[2];
  for (int i = 0; i < 3; ++i) {
    v_t[i] = v_pc[i];
    for (int j = 0; j < 3; ++j) v_R[i * 3 + j] = v_pc[i] * mean[j];
  }
  // covc = Rv cov3 Rv^T: V_cov3 = Rv^T V_covc Rv; V_Rv += (V_covc + V_covc^T) Rv cov3.
  T tmp[9], V_cov3[9], RC[9];
  sc_mat3_mul_at(Rv, V_covc, tmp);
  sc_mat3_mul(tmp, Rv, V_cov3);
  sc_mat3_mul(Rv, P.cov3, RC);
  for (int i = 0; i < 3; ++i)
    for (int j = 0; j < 3; ++j) {
      T s = T(0);
      for (int k = 0; k < 3; ++k) s += (V_covc[i * 3 + k] + V_covc[k * 3 + i]) * RC[k * 3 + j];
      v_R[i * 3 + j] += s;
    }
  // cov3 = M M^T: V_M = (V_cov3 + V_cov3^T) M
  T V_M[9];
  for (int i = 0; i < 3; ++i)
    for (int j = 0; j < 3; ++j) {
      T s = T(0);
      for (int k = 0; k < 3; ++k) s += (V_cov3[i * 3 + k] + V_cov3[k * 3 + i]) * P.M[k * 3 + j];
      V_M[i * 3 + j] = s;
    }
  // M = Rq diag(scale)
  T V_Rq[9];
  for (int j = 0; j < 3; ++j) {
    v_scale[j] = P.Rq[j] * V_M[j] + P.Rq[3 + j] * V_M[3 + j] + P.Rq[6 + j] * V_M[6 + j];
    for (int i = 0; i < 3; ++i) V_Rq[i * 3 + j] = V_M[i * 3 + j] * scale[j];
  }
  // Rq(q): partial derivatives of the entries of sc_quat_to_rotmat.
  T w = P.q[0], qx = P.q[1], qy = P.q[2], qz = P.q[3];
  const SC_THREAD T* V = V_Rq;
  T vw = T(2) * (-qz * V[1] + qy * V[2] + qz * V[3] - qx * V[5] - qy * V[6] + qx * V[7]);
  T vx = T(2) * (qy * V[1] + qz * V[2] + qy * V[3] - T(2) * qx * V[4] - w * V[5] + qz * V[6] +
                 w * V[7] - T(2) * qx * V[8]);
  T vy = T(2) * (-T(2) * qy * V[0] + qx * V[1] + w * V[2] + qx * V[3] + qz * V[5] - w * V[6] +
                 qz * V[7] - T(2) * qy * V[8]);
  T vz = T(2) * (-T(2) * qz * V[0] - w * V[1] + qx * V[2] + w * V[3] - T(2) * qz * V[4] +
                 qy * V[5] + qx * V[6] + qy * V[7]);
  // q = raw / |raw|: v_raw = (v_q - q (q . v_q)) / |raw|
  T dot = w * vw + qx * vx + qy * vy + qz * vz;
  T inv = P.qnorm > T(0) ? T(1) / P.qnorm : T(0);
  v_quat[0] = (vw - w * dot) * inv;
  v_quat[1] = (vx - qx * dot) * inv;
  v_quat[2] = (vy - qy * dot) * inv;
  v_quat[3] = (vz - qz * dot) * inv;
}
