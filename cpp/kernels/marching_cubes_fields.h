// Per-voxel bodies of the fields that marching cubes meshes from a scene
// (kernel subset, see compat.h). CPU driver: cpp/mesh/fields.cpp.
//
// 1. TSDF fusion (Curless & Levoy 1996; the projective form of KinectFusion):
//    one body per voxel and view (sc_tsdf_voxel) updates a running weighted
//    average of the truncated signed distance d(pixel) - z(voxel), measured
//    along the camera's z, and of the colour near the surface.
// 2. Opacity field: sum_i opacity_i exp(-1/2 (x - mu_i)^T Sigma_i^-1 (x - mu_i))
//    over the Gaussians within a cut-off distance, each Gaussian packed once
//    (sc_gauss_record) and evaluated per voxel (sc_gauss_eval). The CPU
//    driver bins Gaussians into blocks of voxels so each voxel sums only the
//    Gaussians that reach it.
#pragma once
#include "kernels/compat.h"
#include "kernels/projection.h"

// ---- TSDF --------------------------------------------------------------------

// Camera for the TSDF: world-to-camera rows R | t (12 floats: R00 R01 R02 t0,
// R10 ... t1, R20 ... t2), intrinsics fx fy cx cy, image size.
struct ScTsdfCamera {
  float P[12];
  float fx, fy, cx, cy;
  sc_i32 width, height;
};

// Depth at a continuous pixel position (u, v) (pixel centres at +0.5): bilinear
// over the 4 nearest pixel centres when all hold a surface (> 0) and their
// spread is below `edge` (no blending across depth edges), else the pixel
// under (u, v). 0 when there is no surface there; -1 outside the image.
SC_FN float sc_tsdf_sample_depth(SC_DEVICE const float* depth, sc_i32 W, sc_i32 H, float u,
                                 float v, float edge) {
  if (!(u >= 0.0f && v >= 0.0f && u < (float)W && v < (float)H)) return -1.0f;
  sc_i32 px = (sc_i32)u, py = (sc_i32)v;
  float near_d = depth[py * W + px];
  float x = u - 0.5f, y = v - 0.5f;
  sc_i32 x0 = (sc_i32)floor(x), y0 = (sc_i32)floor(y);
  if (x0 < 0 || y0 < 0 || x0 + 1 >= W || y0 + 1 >= H) return near_d > 0.0f ? near_d : 0.0f;
  float fx = x - (float)x0, fy = y - (float)y0;
  float d00 = depth[y0 * W + x0], d01 = depth[y0 * W + x0 + 1];
  float d10 = depth[(y0 + 1) * W + x0], d11 = depth[(y0 + 1) * W + x0 + 1];
  float lo = fmin(fmin(d00, d01), fmin(d10, d11));
  float hi = fmax(fmax(d00, d01), fmax(d10, d11));
  if (lo > 0.0f && hi - lo < edge) {
    float top = d00 + fx * (d01 - d00);
    float bot = d10 + fx * (d11 - d10);
    return top + fy * (bot - top);
  }
  return near_d > 0.0f ? near_d : 0.0f;
}

// One view's update of one voxel at world position (x, y, z). depth (H, W):
// camera z of the surface, 0 where the pixel shows no surface; rgb (H, W, 3)
// or null. The observation is clamp((d - z) / trunc, -1, 1); voxels more than
// `trunc` behind the surface are left alone (unseen), voxels whose pixel shows
// no surface count as free space (+1) when `carve`. Colour is averaged over
// observations within the truncation band (its own weight in cweight).
SC_FN void sc_tsdf_voxel(float x, float y, float z, ScTsdfCamera cam, SC_DEVICE const float* depth,
                         SC_DEVICE const float* rgb, float trunc, float near_plane,
                         float max_weight, sc_i32 carve, SC_DEVICE float* tsdf,
                         SC_DEVICE float* weight, SC_DEVICE float* color,
                         SC_DEVICE float* cweight) {
  float xc = cam.P[0] * x + cam.P[1] * y + cam.P[2] * z + cam.P[3];
  float yc = cam.P[4] * x + cam.P[5] * y + cam.P[6] * z + cam.P[7];
  float zc = cam.P[8] * x + cam.P[9] * y + cam.P[10] * z + cam.P[11];
  if (!(zc > near_plane)) return;
  float inv = 1.0f / zc;
  float u = cam.fx * xc * inv + cam.cx;
  float v = cam.fy * yc * inv + cam.cy;
  float d = sc_tsdf_sample_depth(depth, cam.width, cam.height, u, v, trunc);
  if (d < 0.0f) return;  // outside the image
  float obs;
  bool band = false;
  if (d == 0.0f) {
    if (!carve) return;
    obs = 1.0f;
  } else {
    float sdf = d - zc;
    if (sdf < -trunc) return;  // hidden behind the surface
    obs = sdf / trunc;
    if (obs > 1.0f) obs = 1.0f;
    band = obs < 1.0f;
  }
  float w0 = *weight;
  float w1 = w0 + 1.0f;
  *tsdf = (*tsdf * w0 + obs) / w1;
  *weight = w1 < max_weight ? w1 : max_weight;
  if (band && color && rgb) {
    sc_i32 px = (sc_i32)u, py = (sc_i32)v;
    SC_DEVICE const float* c = rgb + 3 * (py * cam.width + px);
    float cw0 = *cweight;
    float cw1 = cw0 + 1.0f;
    for (sc_i32 k = 0; k < 3; ++k) color[k] = (color[k] * cw0 + c[k]) / cw1;
    *cweight = cw1 < max_weight ? cw1 : max_weight;
  }
}

// ---- opacity field -------------------------------------------------------------

#define SC_GAUSS_RECORD 12  // floats per packed Gaussian

// Packs one Gaussian: mean (3), inverse covariance (xx, xy, xz, yy, yz, zz),
// opacity, squared Mahalanobis cut-off, and writes the half extents of its
// axis-aligned bounding box to half_extent. Scales are floored at min_scale
// (so a field sampled on a grid of that spacing does not alias thin
// Gaussians). The cut-off is min(max_sigma^2, 2 ln(255 opacity)): beyond it
// the Gaussian adds less than 1/255. Returns 0 when the Gaussian adds nothing.
SC_FN sc_i32 sc_gauss_record(SC_DEVICE const float* mean, SC_DEVICE const float* quat,
                             SC_DEVICE const float* scale, float opacity, float min_scale,
                             float max_sigma, SC_DEVICE float* rec, SC_THREAD float* half_extent) {
  float qn = sqrt(quat[0] * quat[0] + quat[1] * quat[1] + quat[2] * quat[2] + quat[3] * quat[3]);
  float m2 = max_sigma * max_sigma;
  float op = opacity * 255.0f;
  float m2o = op > 1.0f ? 2.0f * log(op) : 0.0f;
  if (m2o < m2) m2 = m2o;
  for (sc_i32 k = 0; k < SC_GAUSS_RECORD; ++k) rec[k] = 0.0f;
  if (!(qn > 0.0f) || !(m2 > 0.0f)) {
    half_extent[0] = half_extent[1] = half_extent[2] = 0.0f;
    return 0;
  }
  float R[9];
  sc_quat_to_rotmat<float>(quat[0] / qn, quat[1] / qn, quat[2] / qn, quat[3] / qn, R);
  float s[3], is2[3];
  for (sc_i32 a = 0; a < 3; ++a) {
    s[a] = scale[a] > min_scale ? scale[a] : min_scale;
    is2[a] = 1.0f / (s[a] * s[a]);
  }
  // Sigma = R diag(s^2) R^T, Sigma^-1 = R diag(1/s^2) R^T
  float ic[6];
  sc_i32 idx = 0;
  for (sc_i32 i = 0; i < 3; ++i)
    for (sc_i32 j = i; j < 3; ++j) {
      ic[idx++] = R[i * 3] * R[j * 3] * is2[0] + R[i * 3 + 1] * R[j * 3 + 1] * is2[1] +
                  R[i * 3 + 2] * R[j * 3 + 2] * is2[2];
    }
  float r = sqrt(m2);
  for (sc_i32 i = 0; i < 3; ++i) {
    float var = R[i * 3] * R[i * 3] * s[0] * s[0] + R[i * 3 + 1] * R[i * 3 + 1] * s[1] * s[1] +
                R[i * 3 + 2] * R[i * 3 + 2] * s[2] * s[2];
    half_extent[i] = r * sqrt(var);
  }
  rec[0] = mean[0];
  rec[1] = mean[1];
  rec[2] = mean[2];
  for (sc_i32 k = 0; k < 6; ++k) rec[3 + k] = ic[k];
  rec[9] = opacity;
  rec[10] = m2;
  return 1;
}

// Contribution of a packed Gaussian at (x, y, z).
SC_FN float sc_gauss_eval(SC_DEVICE const float* rec, float x, float y, float z) {
  float dx = x - rec[0], dy = y - rec[1], dz = z - rec[2];
  float m2 = rec[3] * dx * dx + rec[6] * dy * dy + rec[8] * dz * dz +
             2.0f * (rec[4] * dx * dy + rec[5] * dx * dz + rec[7] * dy * dz);
  return m2 < rec[10] ? rec[9] * exp(-0.5f * m2) : 0.0f;
}
