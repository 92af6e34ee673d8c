// The rasterizer's per-Gaussian stages for one CPU target (core/target_unit.h;
// the interface is splat/gaussians_kernels.h): projection, features (SH or
// given colours, depth) and the per-Gaussian backward.
#include "core/target_unit.h"

#include "kernels/composite.h"
#include "kernels/projection.h"
#include "kernels/sh.h"
#include "splat/finite.h"
#include "splat/gaussians_kernels.h"

namespace {

using sc::GaussianArgs;
using sc::GaussianGradArgs;

// Projects Gaussians [b, e). The finite-value check of the per-Gaussian inputs
// rides along (the values are in registers anyway); a Gaussian outside the
// near/far range or surely off screen is culled before its covariance is built.
template <typename T>
bool project(const GaussianArgs<T>& a, int64_t b, int64_t e) {
  const T *mean = a.mean, *quat = a.quat, *scale = a.scale, *opac = a.opac;
  const ScCamera<T>& cam = a.cam;
  const T* R = cam.R;
  const T W = T(a.width), H = T(a.height);
  bool ok = true;
  for (int64_t i = b; i < e; ++i) {
    ok = ok && sc::all_finite(mean + 3 * i, 3) && sc::all_finite(quat + 4 * i, 4) &&
         sc::all_finite(scale + 3 * i, 3) && sc::all_finite(opac + i, 1);
    // camera-space depth, as sc_project_gaussian computes it
    const T* m = mean + 3 * i;
    T z = R[6] * m[0] + R[7] * m[1] + R[8] * m[2] + cam.t[2];
    if (!(z >= cam.near_plane && z <= cam.far_plane) ||
        sc_surely_off_screen(R[0] * m[0] + R[1] * m[1] + R[2] * m[2] + cam.t[0],
                             R[3] * m[0] + R[4] * m[1] + R[5] * m[2] + cam.t[1], z, scale + 3 * i, opac[i],
                             cam)) {
      a.depths[i] = z;
      continue;
    }
    ScProjected<T> P;
    sc_project_gaussian(mean + 3 * i, quat + 4 * i, scale + 3 * i, cam, P);
    for (int k = 0; k < 2; ++k) a.mean2d[2 * i + k] = P.mean2d[k];
    for (int k = 0; k < 3; ++k) a.conic[3 * i + k] = P.conic[k];
    a.depths[i] = P.pc[2];
    T op = opac[i] * (a.antialiased ? P.compensation : T(1));
    a.opac_eff[i] = op;
    if (!P.valid) continue;
    T half[2];
    T r2 = sc_footprint(P, op, half);
    if (r2 <= T(0)) continue;
    // off screen: no pixel centre (x + 0.5, y + 0.5) within the box
    T mx = P.mean2d[0], my = P.mean2d[1];
    if (mx + half[0] < T(0.5) || mx - half[0] > W - T(0.5) || my + half[1] < T(0.5) ||
        my - half[1] > H - T(0.5))
      continue;
    a.r2[i] = r2;
    for (int k = 0; k < 2; ++k) {
      int32_t r = (int32_t)ceil(half[k]);
      a.radii[2 * i + k] = r > 1 ? r : 1;
    }
  }
  return ok;
}

// Gaussian i's SH coefficients (or their gradients, from the matching output
// arrays): dc (k = 0) and rest (k >= 1).
template <typename T, typename P>
void sh_rows(const GaussianArgs<T>& a, int64_t i, P* colors, P* colors_rest, P*& dc, P*& rest) {
  if (!a.split) {
    dc = colors + i * a.sh_k * 3;
    rest = dc + 3;
  } else {
    dc = colors + i * 3;
    rest = colors_rest + i * (a.sh_k - 1) * 3;
  }
}

// Per-Gaussian features: colours (given or from SH) then the depth channel.
// Colours / SH coefficients read for the visible Gaussians are checked here
// (a culled Gaussian's colour never reaches the image or a gradient).
template <typename T>
bool features(const GaussianArgs<T>& a, int64_t b, int64_t e) {
  const T* mean = a.mean;
  const T* camc = a.campos;
  const T* R = a.cam.R;
  const int64_t C = a.C, ncol = a.ncol;
  bool ok = true;
  for (int64_t i = b; i < e; ++i) {
    if (a.radii[2 * i] == 0 && a.radii[2 * i + 1] == 0) continue;
    T* f = a.feats + i * C;
    if (ncol > 0) {
      if (a.sh_degree >= 0) {
        T rgb[3];
        const T *dc, *rest;
        sh_rows(a, i, a.colors, a.colors_rest, dc, rest);
        if (!sc::all_finite(dc, 3) || !sc::all_finite(rest, (int)a.col_used - 3)) ok = false;
        sc_sh_color_split(a.sh_degree, mean[3 * i], mean[3 * i + 1], mean[3 * i + 2], camc[0], camc[1],
                          camc[2], dc, rest, rgb);
        for (int c = 0; c < 3; ++c) f[c] = rgb[c];
      } else {
        if (!sc::all_finite(a.colors + i * a.col_row, (int)a.col_used)) ok = false;
        for (int64_t c = 0; c < ncol; ++c) f[c] = a.colors[i * ncol + c];
      }
    }
    if (a.depth) f[ncol] = R[6] * mean[3 * i] + R[7] * mean[3 * i + 1] + R[8] * mean[3 * i + 2] + a.cam.t[2];
  }
  return ok;
}

// Blocks [bb, be) of g.block Gaussians, in index order: parameter reads and
// gradient writes stream through memory, and each Gaussian's intersections are
// contiguous (binning.h). The viewmat gradient goes to the block's partial
// (summed in block order by the caller: the same for any thread count).
template <typename T>
void backward(const GaussianArgs<T>& a, const GaussianGradArgs<T>& g, int64_t bb, int64_t be) {
  const int64_t n = a.n, C = a.C, ncol = a.ncol, col_row = a.col_row;
  const int gstride = g.gstride;
  const bool split = a.split != 0;
  const int64_t rest_row = split ? (a.sh_k - 1) * 3 : 0;
  // colour-gradient entries written (the SH bands up to the degree, or the colours)
  const int64_t col_written = ncol == 0 ? 0 : a.col_used;
  const T *mean = a.mean, *quat = a.quat, *scale = a.scale, *opac = a.opac;
  const T* camc = a.campos;
  const T* Vinv = a.Vinv;
  T *vm = g.means, *vq = g.quats, *vs = g.scales, *vo = g.opacities, *vc = g.colors, *vcr = g.colors_rest,
    *v2 = g.means2d, *va = g.absgrad;
  for (int64_t blk = bb; blk < be; ++blk) {
    T* vp = g.view_partial + blk * 16;
    const int64_t i1 = (blk + 1) * g.block < n ? (blk + 1) * g.block : n;
    for (int64_t i = blk * g.block; i < i1; ++i) {
      int64_t e0 = g.emit_offset[i], e1 = g.emit_offset[i + 1];
      if (e0 == e1) {  // culled or no pixel reached: every gradient is 0
        for (int k = 0; k < 3; ++k) vm[3 * i + k] = vs[3 * i + k] = T(0);
        for (int k = 0; k < 4; ++k) vq[4 * i + k] = T(0);
        vo[i] = T(0);
        for (int64_t k = 0; k < col_row; ++k) vc[i * col_row + k] = T(0);
        for (int64_t k = 0; k < rest_row; ++k) vcr[i * rest_row + k] = T(0);
        for (int k = 0; k < 2; ++k) v2[2 * i + k] = va[2 * i + k] = T(0);
        continue;
      }
      T acc[SC_MAX_CHANNELS + 8] = {};
      for (int64_t e = e0; e < e1; ++e) {
        const T* gi = g.isect_grad + e * gstride;
        for (int k = 0; k < gstride; ++k) acc[k] += gi[k];
      }
      if (!split)
        for (int64_t k = col_written; k < col_row; ++k) vc[i * col_row + k] = T(0);
      v2[2 * i] = acc[0];
      v2[2 * i + 1] = acc[1];
      va[2 * i] = acc[6 + C];
      va[2 * i + 1] = acc[7 + C];
      // features -> colours / SH and depth
      T v_depth = a.depth ? acc[6 + ncol] : T(0);
      T v_mean_sh[3] = {0, 0, 0};
      if (ncol > 0) {
        if (a.sh_degree >= 0) {
          T v_rgb[3] = {acc[6], acc[7], acc[8]}, v_dir[3];
          const T *dc, *rest;
          T *v_dc, *v_rest;
          sh_rows(a, i, a.colors, a.colors_rest, dc, rest);
          sh_rows(a, i, vc, vcr, v_dc, v_rest);
          sc_sh_color_split_backward(a.sh_degree, mean[3 * i], mean[3 * i + 1], mean[3 * i + 2], camc[0],
                                     camc[1], camc[2], dc, rest, v_rgb, v_dc, v_rest, v_dir);
          if (split)  // bands above the degree
            for (int64_t k = col_written - 3; k < rest_row; ++k) v_rest[k] = T(0);
          // dir = mean - campos, campos = (Vinv e3)[:3]: d campos = -(Vinv dV Vinv e3)[:3],
          // so dL/dV = (Vinv^T [v_dir; 0]) (Vinv e3)^T (v_campos = -v_dir).
          for (int k = 0; k < 3; ++k) v_mean_sh[k] = v_dir[k];
          for (int r = 0; r < 4; ++r) {
            T u = Vinv[r] * v_dir[0] + Vinv[4 + r] * v_dir[1] + Vinv[8 + r] * v_dir[2];
            for (int c = 0; c < 4; ++c) vp[r * 4 + c] += u * camc[c];
          }
        } else {
          for (int64_t c = 0; c < ncol; ++c) vc[i * ncol + c] = acc[6 + c];
        }
      }
      // opacity (antialiased: opacity_eff = opacity * compensation)
      ScProjected<T> P;
      sc_project_gaussian(mean + 3 * i, quat + 4 * i, scale + 3 * i, a.cam, P);
      T v_comp = T(0);
      if (a.antialiased) {
        vo[i] = acc[5] * P.compensation;
        v_comp = acc[5] * opac[i];
      } else {
        vo[i] = acc[5];
      }
      T v_conic[3] = {acc[2], acc[3], acc[4]};
      T v_mean2d[2] = {acc[0], acc[1]};
      T pm[3], pq[4], ps[3], pR[9], pt[3];
      sc_project_gaussian_backward(mean + 3 * i, scale + 3 * i, a.cam, P, v_mean2d, v_depth, v_conic, v_comp,
                                   pm, pq, ps, pR, pt);
      for (int k = 0; k < 3; ++k) vm[3 * i + k] = pm[k] + v_mean_sh[k];
      for (int k = 0; k < 4; ++k) vq[4 * i + k] = pq[k];
      for (int k = 0; k < 3; ++k) vs[3 * i + k] = ps[k];
      if (a.raw) {  // d/d log-scale = s d/ds; d/d logit = o (1 - o) d/do
        for (int k = 0; k < 3; ++k) vs[3 * i + k] *= scale[3 * i + k];
        vo[i] *= opac[i] * (T(1) - opac[i]);
      }
      for (int r = 0; r < 3; ++r) {
        for (int c = 0; c < 3; ++c) vp[r * 4 + c] += pR[r * 3 + c];
        vp[r * 4 + 3] += pt[r];
      }
    }
  }
}

template <typename T>
constexpr sc::GaussianKernels<T> table() {
  return {&project<T>, &features<T>, &backward<T>};
}

const sc::GaussianTables kTables = {table<float>(), table<double>()};

}  // namespace

namespace sc {
const GaussianTables& SC_TARGET_TABLE(gaussian_kernels)() { return kTables; }
}  // namespace sc
