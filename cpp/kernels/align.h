// Per-pixel math of the global alignment of pairwise pointmaps (DUSt3R's
// PointCloudOptimizer, Wang et al. 2024), shared by every backend.
//
// Per image k: log-depth map, pose (quaternion w x y z, normalised here, and a
// translation through signed_expm1), focal f (square pixels, principal point
// fixed). A pixel (u, v) (integer indices; pixel centres at u + 0.5, as in
// COLMAP / OpenCV with cx = W/2 the image centre) has the camera-frame point
//   c = d * ((u + 0.5 - cx) / f, (v + 0.5 - cy) / f, 1),   d = exp(log_depth)
// and the world point X = R_k c + T_k.
// Per edge e = (i, j): a similarity Z = s_e (R_e y + t_e) = A_e y + b_e that maps
// the pair's pointmaps y (both expressed in camera i's frame) into the world.
// The loss term of one pixel of one view of one edge is  w * |X - Z|  (the
// Euclidean distance, not squared: DUSt3R's default dist 'l1' is
// (a - b).norm(dim=-1) * weight), with w = log(conf) (DUSt3R's conf='log').
//
// The loops (over pixels, views, edges, threads) belong to the backend; these
// bodies take scalars and small local arrays only.
#pragma once
#include "kernels/compat.h"

// Rotation matrix (row-major, 9 values) of the quaternion (w, x, y, z) after
// normalising it; returns the norm used (at least eps, so a zero quaternion
// gives a finite matrix instead of NaN).
template <typename T>
SC_FN T sc_align_quat_to_rotmat(T qw, T qx, T qy, T qz, T eps, SC_THREAD T* R) {
  T n = sqrt(qw * qw + qx * qx + qy * qy + qz * qz);
  if (!(n > eps)) n = eps;
  const T w = qw / n, x = qx / n, y = qy / n, z = qz / n;
  R[0] = T(1) - T(2) * (y * y + z * z);
  R[1] = T(2) * (x * y - w * z);
  R[2] = T(2) * (x * z + w * y);
  R[3] = T(2) * (x * y + w * z);
  R[4] = T(1) - T(2) * (x * x + z * z);
  R[5] = T(2) * (y * z - w * x);
  R[6] = T(2) * (x * z - w * y);
  R[7] = T(2) * (y * z + w * x);
  R[8] = T(1) - T(2) * (x * x + y * y);
  return n;
}

// Gradient w.r.t. the raw quaternion q (before normalisation) given dL/dR.
// With u = q / |q|: dL/du_k = sum_ab dR_ab dR_ab/du_k, then the normalisation
// projects out the radial part: dL/dq = (dL/du - u (u . dL/du)) / |q|.
template <typename T>
SC_FN void sc_align_quat_backward(T qw, T qx, T qy, T qz, T eps, SC_THREAD const T* dR,
                                  SC_THREAD T* dq) {
  T n = sqrt(qw * qw + qx * qx + qy * qy + qz * qz);
  if (!(n > eps)) n = eps;
  const T w = qw / n, x = qx / n, y = qy / n, z = qz / n;
  const T g0 = dR[0], g1 = dR[1], g2 = dR[2], g3 = dR[3], g4 = dR[4], g5 = dR[5], g6 = dR[6],
          g7 = dR[7], g8 = dR[8];
  const T dw = T(2) * (-z * g1 + y * g2 + z * g3 - x * g5 - y * g6 + x * g7);
  const T dx = T(2) * (y * g1 + z * g2 + y * g3 - T(2) * x * g4 - w * g5 + z * g6 + w * g7 -
                       T(2) * x * g8);
  const T dy = T(2) * (-T(2) * y * g0 + x * g1 + w * g2 + x * g3 + z * g5 - w * g6 + z * g7 -
                       T(2) * y * g8);
  const T dz = T(2) * (-T(2) * z * g0 - w * g1 + x * g2 + w * g3 - T(2) * z * g4 + y * g5 +
                       x * g6 + y * g7);
  const T radial = w * dw + x * dx + y * dy + z * dz;
  dq[0] = (dw - w * radial) / n;
  dq[1] = (dx - x * radial) / n;
  dq[2] = (dy - y * radial) / n;
  dq[3] = (dz - z * radial) / n;
}

// DUSt3R's translation parameterisation: sign(x) (exp(|x|) - 1), and its derivative.
template <typename T>
SC_FN T sc_align_signed_expm1(T x) {
  const T a = expm1(fabs(x));
  return x < T(0) ? -a : a;
}
template <typename T>
SC_FN T sc_align_signed_expm1_grad(T x) {
  return exp(fabs(x));
}

// Camera-frame point of pixel (u, v) with log-depth ld; writes c, returns d.
template <typename T>
SC_FN T sc_align_cam_point(T u, T v, T cx, T cy, T inv_f, T ld, SC_THREAD T* c) {
  const T d = exp(ld);
  c[0] = d * (u + T(0.5) - cx) * inv_f;
  c[1] = d * (v + T(0.5) - cy) * inv_f;
  c[2] = d;
  return d;
}

// World point X = R c + T of a camera-frame point.
template <typename T>
SC_FN void sc_align_to_world(SC_THREAD const T* R, SC_THREAD const T* Tw, SC_THREAD const T* c,
                             SC_THREAD T* X) {
  X[0] = R[0] * c[0] + R[1] * c[1] + R[2] * c[2] + Tw[0];
  X[1] = R[3] * c[0] + R[4] * c[1] + R[5] * c[2] + Tw[1];
  X[2] = R[6] * c[0] + R[7] * c[1] + R[8] * c[2] + Tw[2];
}

// One loss term: w |X - (A y + b)|. Writes g = d(term)/dX = w r / max(|r|, eps)
// (so d(term)/dZ = -g) and returns the term. w must be >= 0 and finite.
template <typename T>
SC_FN T sc_align_residual(T X0, T X1, T X2, T y0, T y1, T y2, T w, SC_THREAD const T* A,
                          SC_THREAD const T* b, T eps, SC_THREAD T* g) {
  const T r0 = X0 - (A[0] * y0 + A[1] * y1 + A[2] * y2 + b[0]);
  const T r1 = X1 - (A[3] * y0 + A[4] * y1 + A[5] * y2 + b[1]);
  const T r2 = X2 - (A[6] * y0 + A[7] * y1 + A[8] * y2 + b[2]);
  const T n = sqrt(r0 * r0 + r1 * r1 + r2 * r2);
  const T k = w / (n > eps ? n : eps);
  g[0] = k * r0;
  g[1] = k * r1;
  g[2] = k * r2;
  return w * n;
}

// Back through X = R c + T, c = exp(ld) ray(f): given gX = dL/dX at one pixel,
// returns dL/d(log-depth) and writes dL/df (the focal itself, not its log).
//   g_c = R^T gX,  dL/dld = g_c . c,  dL/df = -(g_c0 c0 + g_c1 c1) / f
template <typename T>
SC_FN T sc_align_pixel_backward(SC_THREAD const T* gX, SC_THREAD const T* R,
                                SC_THREAD const T* c, T inv_f, SC_THREAD T* d_f) {
  const T gc0 = R[0] * gX[0] + R[3] * gX[1] + R[6] * gX[2];
  const T gc1 = R[1] * gX[0] + R[4] * gX[1] + R[7] * gX[2];
  const T gc2 = R[2] * gX[0] + R[5] * gX[1] + R[8] * gX[2];
  *d_f = -(gc0 * c[0] + gc1 * c[1]) * inv_f;
  return gc0 * c[0] + gc1 * c[1] + gc2 * c[2];
}

// Pairwise-map weight from a confidence (DUSt3R's conf_trf): mode 0 'log'
// (log conf), 1 'sqrt', 2 'm1' (conf - 1), 3 'id'. Negative, NaN or infinite
// values give 0 so a bad input can never turn the loss into NaN.
template <typename T>
SC_FN T sc_align_conf_weight(T conf, int mode) {
  if (!(conf > T(0)) || !(conf < T(3.0e38))) return T(0);
  T w = conf;
  if (mode == 0) w = log(conf);
  else if (mode == 1) w = sqrt(conf);
  else if (mode == 2) w = conf - T(1);
  return w > T(0) ? w : T(0);
}

// Robust depth of one pixel given where its views put it: the minimiser over d of
// sum_q w_q |d ray - z_q| (a convex 1-D problem), ray = (r0, r1, 1), solved by
// iteratively reweighted least squares. One view's share of one step: adds
// w'_q (ray . z_q) to num and w'_q |ray|^2 to den, w'_q = w_q / max(|d ray - z_q|, eps);
// the next d is num / den.
template <typename T>
SC_FN void sc_align_depth_irls_term(T d, T r0, T r1, T z0, T z1, T z2, T w, T eps,
                                    SC_THREAD T* num, SC_THREAD T* den) {
  const T e0 = d * r0 - z0, e1 = d * r1 - z1, e2 = d - z2;
  const T dist = sqrt(e0 * e0 + e1 * e1 + e2 * e2);
  const T wq = w / (dist > eps ? dist : eps);
  *num += wq * (r0 * z0 + r1 * z1 + z2);
  *den += wq * (r0 * r0 + r1 * r1 + T(1));
}
