// The GPU rasterizer's per-Gaussian stages, a thread per Gaussian (or per
// intersection), over the same bodies as the CPU (kernels/projection.h,
// kernels/sh.h, kernels/tile_binning.h):
//   raster_activate   exp(log-scale), sigmoid(logit) of the parameter form;
//   raster_project    EWA projection, footprint, culling, features, depth keys;
//   (radix sort of the depth keys)
//   raster_count      each Gaussian's tile count, in depth order;
//   (exclusive scan: emission offsets)
//   raster_emit       a thread per Gaussian writes its tiles at its offsets;
//   (radix sort of the tile ids, stable: front to back within each tile)
//   raster_tile_ranges  each tile's [begin, end) among the sorted intersections;
//   raster_sum_isects  a SIMD group per Gaussian sums its intersection gradients
//                     (contiguous in emission order: no atomics, so runs are
//                     deterministic);
//   raster_gaussian_backward  the projection and SH chain rule per Gaussian.
#pragma once
#include "gpu/kernels/raster_args.h"
#include "kernels/composite.h"
#include "kernels/radix_sort.h"
#include "kernels/sh.h"
#include "kernels/tile_binning.h"

// False when any of x[0..n) is NaN or infinite (x - x is 0 only for finite x).
template <typename T>
SC_FN bool sc_raster_finite(SC_DEVICE const T* x, int n) {
  bool ok = true;
  for (int k = 0; k < n; ++k) ok = ok && (x[k] - x[k]) == T(0);
  return ok;
}

template <typename T>
SC_FN void sc_raster_activate(SC_ARGS_REF(ScRasterGaussianArgs<T>) a, sc_i64 i) {
  for (int k = 0; k < 3; ++k) a.scales[3 * i + k] = exp(a.raw_scales[3 * i + k]);
  a.opacities[i] = T(1) / (T(1) + exp(-a.raw_opacities[i]));
}

// Gaussian g's SH coefficients: the DC row and the rest, read in place.
template <typename T>
SC_FN SC_DEVICE const T* sc_raster_sh_dc(SC_ARGS_REF(ScRasterGaussianArgs<T>) a, sc_i64 g) {
  return a.split ? a.colors + 3 * g : a.colors + g * a.sh_k * 3;
}
template <typename T>
SC_FN SC_DEVICE const T* sc_raster_sh_rest(SC_ARGS_REF(ScRasterGaussianArgs<T>) a, sc_i64 g) {
  return a.split ? a.colors_rest + g * (a.sh_k - 1) * 3 : a.colors + g * a.sh_k * 3 + 3;
}

// The SH colour and its backward with the degree a constant at each call (0..3),
// so that the compiler unrolls the basis loops and keeps the basis arrays in
// registers (with a run-time degree they lived on the stack: 256 bytes a thread).
template <typename T>
SC_FN void sc_raster_sh_color(int degree, T mx, T my, T mz, T cx, T cy, T cz, SC_DEVICE const T* dc,
                              SC_DEVICE const T* rest, SC_THREAD T* rgb) {
  switch (degree) {
    case 0: sc_sh_color_split(0, mx, my, mz, cx, cy, cz, dc, rest, rgb); break;
    case 1: sc_sh_color_split(1, mx, my, mz, cx, cy, cz, dc, rest, rgb); break;
    case 2: sc_sh_color_split(2, mx, my, mz, cx, cy, cz, dc, rest, rgb); break;
    default: sc_sh_color_split(3, mx, my, mz, cx, cy, cz, dc, rest, rgb); break;
  }
}
template <typename T>
SC_FN void sc_raster_sh_color_backward(int degree, T mx, T my, T mz, T cx, T cy, T cz, SC_DEVICE const T* dc,
                                       SC_DEVICE const T* rest, SC_THREAD const T* v_rgb, SC_DEVICE T* v_dc,
                                       SC_DEVICE T* v_rest, SC_THREAD T* v_dir) {
  switch (degree) {
    case 0: sc_sh_color_split_backward(0, mx, my, mz, cx, cy, cz, dc, rest, v_rgb, v_dc, v_rest, v_dir); break;
    case 1: sc_sh_color_split_backward(1, mx, my, mz, cx, cy, cz, dc, rest, v_rgb, v_dc, v_rest, v_dir); break;
    case 2: sc_sh_color_split_backward(2, mx, my, mz, cx, cy, cz, dc, rest, v_rgb, v_dc, v_rest, v_dir); break;
    default: sc_sh_color_split_backward(3, mx, my, mz, cx, cy, cz, dc, rest, v_rgb, v_dc, v_rest, v_dir); break;
  }
}

template <typename T>
SC_FN void sc_raster_project(SC_ARGS_REF(ScRasterGaussianArgs<T>) a, sc_i64 i) {
  SC_DEVICE const T* mean = a.means + 3 * i;
  SC_DEVICE const T* quat = a.quats + 4 * i;
  SC_DEVICE const T* scale = a.scales + 3 * i;
  const T opacity = a.opacities[i];
  if (!sc_raster_finite(mean, 3)) a.errors[SC_RASTER_ERR_MEANS] = 1u;
  if (!sc_raster_finite(quat, 4)) a.errors[SC_RASTER_ERR_QUATS] = 1u;
  if (!sc_raster_finite(scale, 3)) a.errors[SC_RASTER_ERR_SCALES] = 1u;
  if (!((opacity - opacity) == T(0))) a.errors[SC_RASTER_ERR_OPACITIES] = 1u;
  // culled unless shown otherwise below
  for (int k = 0; k < 2; ++k) a.mean2d[2 * i + k] = T(0), a.radii[2 * i + k] = 0;
  for (int k = 0; k < 3; ++k) a.conic[3 * i + k] = T(0);
  for (int c = 0; c < a.C; ++c) a.feats[i * a.C + c] = T(0);
  a.opac_eff[i] = T(0);
  a.r2[i] = T(-1);
  a.depth_key[i] = 0xffffffffu;
  a.identity[i] = (unsigned int)i;
  const ScCamera<T> cam = a.cam;
  const T z = cam.R[6] * mean[0] + cam.R[7] * mean[1] + cam.R[8] * mean[2] + cam.t[2];
  a.depth[i] = z;
  if (!(z >= cam.near_plane && z <= cam.far_plane) ||
      sc_surely_off_screen(cam.R[0] * mean[0] + cam.R[1] * mean[1] + cam.R[2] * mean[2] + cam.t[0],
                           cam.R[3] * mean[0] + cam.R[4] * mean[1] + cam.R[5] * mean[2] + cam.t[1], z, scale,
                           opacity, cam))
    return;
  ScProjected<T> P;
  sc_project_gaussian(mean, quat, scale, cam, P);
  for (int k = 0; k < 2; ++k) a.mean2d[2 * i + k] = P.mean2d[k];
  for (int k = 0; k < 3; ++k) a.conic[3 * i + k] = P.conic[k];
  a.depth[i] = P.pc[2];
  const T op = opacity * (a.antialiased ? P.compensation : T(1));
  a.opac_eff[i] = op;
  if (!P.valid) return;
  T half_ext[2];  // not `half`: a type name in MSL
  const T r2 = sc_footprint(P, op, half_ext);
  if (r2 <= T(0)) return;
  const T mx = P.mean2d[0], my = P.mean2d[1];
  if (mx + half_ext[0] < T(0.5) || mx - half_ext[0] > T(cam.width) - T(0.5) || my + half_ext[1] < T(0.5) ||
      my - half_ext[1] > T(cam.height) - T(0.5))
    return;
  a.r2[i] = r2;
  for (int k = 0; k < 2; ++k) {
    const int r = (int)ceil(half_ext[k]);
    a.radii[2 * i + k] = r > 1 ? r : 1;
  }
  a.depth_key[i] = sc_float_to_sortable_u32((float)P.pc[2]);
  // features of the visible Gaussian: colours (given or from SH), then depth
  SC_DEVICE T* f = a.feats + i * a.C;
  if (a.ncol > 0) {
    if (a.sh_degree >= 0) {
      SC_DEVICE const T* dc = sc_raster_sh_dc(a, i);
      SC_DEVICE const T* rest = sc_raster_sh_rest(a, i);
      const int used = (a.sh_degree + 1) * (a.sh_degree + 1) * 3;
      if (!sc_raster_finite(dc, 3) || !sc_raster_finite(rest, used - 3)) a.errors[SC_RASTER_ERR_COLORS] = 1u;
      T rgb[3];
      sc_raster_sh_color(a.sh_degree, mean[0], mean[1], mean[2], a.Vinv[3], a.Vinv[7], a.Vinv[11], dc, rest, rgb);
      for (int c = 0; c < 3; ++c) f[c] = rgb[c];
    } else {
      SC_DEVICE const T* col = a.colors + i * a.col_row;
      if (!sc_raster_finite(col, a.ncol)) a.errors[SC_RASTER_ERR_COLORS] = 1u;
      for (int c = 0; c < a.ncol; ++c) f[c] = a.colors[i * a.ncol + c];
    }
  }
  if (a.has_depth) f[a.ncol] = z;
}

// A SIMD group walks the tiles Gaussian g reaches, row-major over its tile
// box, 32 tiles per step (a thread per Gaussian would wait on the largest of
// its 32); with `emit` the hits are written at emission slots o, o + 1, ...
// in that order. Returns the count (on every lane). raster_count and
// raster_emit both call it on the same stored values, so they agree.
template <typename T>
SC_GROUP_FN unsigned int sc_raster_walk_tiles(SC_ARGS_REF(ScRasterGaussianArgs<T>) a, unsigned int g, bool emit,
                                              unsigned int o, unsigned int lane) {
  const T r2 = a.r2[g];
  if (!(r2 > T(0))) return 0u;
  const T mx = a.mean2d[2 * g], my = a.mean2d[2 * g + 1];
  const T A = a.conic[3 * g], B = a.conic[3 * g + 1], Cc = a.conic[3 * g + 2];
  int box[4];
  if (!sc_footprint_pixel_box(mx, my, A, B, Cc, r2, a.cam.width, a.cam.height, box)) return 0u;
  const T limit = sc_tile_limit(r2);
  const int ts = a.tile_size;
  const int tx0 = box[0] / ts, ty0 = box[2] / ts;
  const unsigned int cols = (unsigned int)(box[1] / ts - tx0 + 1);
  const unsigned int tiles = cols * (unsigned int)(box[3] / ts - ty0 + 1);
  const unsigned int below = (1u << lane) - 1u;
  unsigned int count = 0u;
  for (unsigned int base = 0u; base < tiles; base += 32u) {
    const unsigned int t = base + lane;
    const int tx = tx0 + (int)(t % cols), ty = ty0 + (int)(t / cols);
    const bool hit = t < tiles && sc_tile_reached(mx, my, A, B, Cc, limit, box, tx, ty, ts);
    const unsigned int mask = sc_simd_ballot(hit);
    if (emit && hit) {
      const unsigned int slot = o + count + sc_popcount(mask & below);
      a.tile_keys[slot] = (unsigned int)(ty * a.tiles_x + tx);
      a.emit_ids[slot] = slot;
      a.emit_gauss[slot] = g;
    }
    count += sc_popcount(mask);
  }
  return count;
}

// SIMD group j of n + 1: the tile count of the j-th Gaussian front to back at
// slot j (slot n = 0, so the scan's last entry is the total), also added to
// the 64-bit total in the status words (the 32-bit scan could wrap).
template <typename T>
SC_GROUP_FN void sc_raster_count(SC_ARGS_REF(ScRasterGaussianArgs<T>) a, sc_i64 j, unsigned int lane) {
  const unsigned int count = j < a.n ? sc_raster_walk_tiles(a, a.by_depth[j], false, 0u, lane) : 0u;
  if (lane == 0u) {
    a.offsets[j] = count;
    if (count) sc_atomic_add_wide(&a.errors[SC_RASTER_TOTAL_LO], &a.errors[SC_RASTER_TOTAL_HI], count);
  }
}

template <typename T>
SC_GROUP_FN void sc_raster_emit(SC_ARGS_REF(ScRasterGaussianArgs<T>) a, sc_i64 j, unsigned int lane) {
  const unsigned int o = a.offsets[j];
  if (o < a.offsets[j + 1]) sc_raster_walk_tiles(a, a.by_depth[j], true, o, lane);
}

// SIMD group j sums the j-th Gaussian's (front to back) intersection
// gradients, contiguous rows of gs values from offsets[j]: lane l reads slot
// l % gs of every (32 / gs)-th row, coalesced, and the lanes of one slot are
// then added in lane order (deterministic). Writes row g = by_depth[j] of
// isect_sums (gs + 1 values: the sums, then 1 when g has intersections).
template <typename T>
SC_GROUP_FN void sc_raster_sum_isects(SC_ARGS_REF(ScRasterGaussianArgs<T>) a, sc_i64 j, unsigned int lane) {
  const unsigned int gs = (unsigned int)sc_grad_stride(a.C), rows = 32u / gs;
  const unsigned int e0 = a.offsets[j], e1 = a.offsets[j + 1];
  const unsigned int row = lane / gs, slot = lane % gs;
  // four independent partial sums a lane (four loads in flight), added in a fixed order
  T acc0 = T(0), acc1 = T(0), acc2 = T(0), acc3 = T(0);
  if (row < rows) {
    unsigned int e = e0 + row;
    for (; e + 3u * rows < e1; e += 4u * rows) {
      acc0 += a.isect_grad[(sc_i64)e * gs + slot];
      acc1 += a.isect_grad[(sc_i64)(e + rows) * gs + slot];
      acc2 += a.isect_grad[(sc_i64)(e + 2u * rows) * gs + slot];
      acc3 += a.isect_grad[(sc_i64)(e + 3u * rows) * gs + slot];
    }
    for (; e < e1; e += rows) acc0 += a.isect_grad[(sc_i64)e * gs + slot];
  }
  const T acc = (acc0 + acc1) + (acc2 + acc3);
  T total = acc;
  for (unsigned int r = 1u; r < rows; ++r) {
    const T other = sc_simd_shuffle(acc, (lane + r * gs) & 31u);
    if (row == 0u) total += other;
  }
  const sc_i64 g = a.by_depth[j];
  if (row == 0u) a.isect_sums[g * (gs + 1u) + slot] = total;
  if (lane == 0u) a.isect_sums[g * (gs + 1u) + gs] = e1 > e0 ? T(1) : T(0);
}

template <typename T>
SC_FN void sc_raster_tile_range(SC_ARGS_REF(ScRasterGaussianArgs<T>) a, sc_i64 p) {
  const unsigned int t = a.sorted_tiles[p];
  if (p == 0 || a.sorted_tiles[p - 1] != t) a.tile_ranges[2 * t] = (unsigned int)p;
  if (p == a.n_isects - 1 || a.sorted_tiles[p + 1] != t) a.tile_ranges[2 * t + 1] = (unsigned int)(p + 1);
}

// Gaussian i's gradients from the sum of its intersections' (sc_raster_sum_isects),
// the CPU's backward_all step 2 (splat/rasterize.cpp) per thread.
template <typename T>
SC_FN void sc_raster_gaussian_backward(SC_ARGS_REF(ScRasterGaussianArgs<T>) a, sc_i64 i) {
  const int C = a.C, gs = sc_grad_stride(C), ncol = a.ncol;
  const int rest_row = a.split ? (a.sh_k - 1) * 3 : 0;
  const int col_written = ncol == 0 ? 0 : (a.sh_degree >= 0 ? (a.sh_degree + 1) * (a.sh_degree + 1) * 3 : ncol);
  // this Gaussian's viewmat gradient, stored (once) only when the viewmat wants one
  T vp[16];
  for (int k = 0; k < 16; ++k) vp[k] = T(0);
  SC_DEVICE const T* sums = a.isect_sums + i * (gs + 1);
  if (sums[gs] == T(0)) {  // culled or no pixel reached: every gradient is 0
    if (a.want_view)
      for (int k = 0; k < 16; ++k) a.v_view_rows[16 * i + k] = T(0);
    for (int k = 0; k < 3; ++k) a.v_means[3 * i + k] = T(0), a.v_scales[3 * i + k] = T(0);
    for (int k = 0; k < 4; ++k) a.v_quats[4 * i + k] = T(0);
    a.v_opacities[i] = T(0);
    for (int k = 0; k < a.col_row; ++k) a.v_colors[i * a.col_row + k] = T(0);
    for (int k = 0; k < rest_row; ++k) a.v_colors_rest[i * rest_row + k] = T(0);
    for (int k = 0; k < 2; ++k) a.v_mean2d[2 * i + k] = T(0), a.v_absgrad[2 * i + k] = T(0);
    return;
  }
  SC_DEVICE const T* acc = sums;  // read in place: a copy indexed at run time would live on the stack
  if (!a.split)
    for (int k = col_written; k < a.col_row; ++k) a.v_colors[i * a.col_row + k] = T(0);
  a.v_mean2d[2 * i] = acc[0];
  a.v_mean2d[2 * i + 1] = acc[1];
  a.v_absgrad[2 * i] = acc[6 + C];
  a.v_absgrad[2 * i + 1] = acc[7 + C];
  SC_DEVICE const T* mean = a.means + 3 * i;
  SC_DEVICE const T* scale = a.scales + 3 * i;
  const T v_depth = a.has_depth ? acc[6 + ncol] : T(0);
  T v_mean_sh[3] = {T(0), T(0), T(0)};
  if (ncol > 0) {
    if (a.sh_degree >= 0) {
      T v_rgb[3] = {acc[6], acc[7], acc[8]}, v_dir[3];
      SC_DEVICE T* v_dc = a.split ? a.v_colors + 3 * i : a.v_colors + i * a.sh_k * 3;
      SC_DEVICE T* v_rest = v_dc + 3;
      if (a.split) v_rest = a.v_colors_rest + i * rest_row;
      sc_raster_sh_color_backward(a.sh_degree, mean[0], mean[1], mean[2], a.Vinv[3], a.Vinv[7], a.Vinv[11],
                                  sc_raster_sh_dc(a, i), sc_raster_sh_rest(a, i), v_rgb, v_dc, v_rest, v_dir);
      if (a.split)  // bands above the degree
        for (int k = col_written - 3; k < rest_row; ++k) v_rest[k] = T(0);
      // dir = mean - campos with campos = (Vinv e3)[:3]: dL/dV = (Vinv^T [v_dir; 0]) (Vinv e3)^T
      for (int k = 0; k < 3; ++k) v_mean_sh[k] = v_dir[k];
      for (int r = 0; r < 4; ++r) {
        const T u = a.Vinv[r] * v_dir[0] + a.Vinv[4 + r] * v_dir[1] + a.Vinv[8 + r] * v_dir[2];
        for (int c = 0; c < 4; ++c) vp[r * 4 + c] += u * a.Vinv[c * 4 + 3];
      }
    } else {
      for (int c = 0; c < ncol; ++c) a.v_colors[i * ncol + c] = acc[6 + c];
    }
  }
  const ScCamera<T> cam = a.cam;
  ScProjected<T> P;
  SC_DEVICE const T* quat = a.quats + 4 * i;
  sc_project_gaussian(mean, quat, scale, cam, P);
  const T opacity = a.opacities[i];
  T v_comp = T(0), v_opacity = acc[5];
  if (a.antialiased) {  // opacity_eff = opacity * compensation
    v_opacity = acc[5] * P.compensation;
    v_comp = acc[5] * opacity;
  }
  T v_conic[3] = {acc[2], acc[3], acc[4]};
  T v_mean2d[2] = {acc[0], acc[1]};
  T pm[3], pq[4], ps[3], pR[9], pt[3];
  sc_project_gaussian_backward(mean, scale, cam, P, v_mean2d, v_depth, v_conic, v_comp, pm, pq, ps, pR, pt);
  for (int k = 0; k < 3; ++k) a.v_means[3 * i + k] = pm[k] + v_mean_sh[k];
  for (int k = 0; k < 4; ++k) a.v_quats[4 * i + k] = pq[k];
  for (int k = 0; k < 3; ++k) a.v_scales[3 * i + k] = a.raw ? ps[k] * scale[k] : ps[k];  // d/d log s = s d/ds
  a.v_opacities[i] = a.raw ? v_opacity * opacity * (T(1) - opacity) : v_opacity;      // d/d logit
  for (int r = 0; r < 3; ++r) {
    for (int c = 0; c < 3; ++c) vp[r * 4 + c] += pR[r * 3 + c];
    vp[r * 4 + 3] += pt[r];
  }
  if (a.want_view)
    for (int k = 0; k < 16; ++k) a.v_view_rows[16 * i + k] = vp[k];
}

#define SC_RASTER_PER_ITEM_KERNEL(NAME, FN, COUNT, SUF, T)     \
  SC_KERNEL(NAME##_##SUF, ScRasterGaussianArgs<T>) {          \
    const sc_i64 item = (sc_i64)SC_GID_X * SC_GSIZE_X + SC_TID_X; \
    if (item < (COUNT)) FN<T>(args, item);                    \
  }
// A SIMD group per item (groups of 256 threads: 8 items each).
#define SC_RASTER_PER_SIMD_KERNEL(NAME, FN, COUNT, SUF, T)                         \
  SC_KERNEL(NAME##_##SUF, ScRasterGaussianArgs<T>) {                              \
    const sc_i64 item = ((sc_i64)SC_GID_X * SC_GSIZE_X + SC_TID_X) / 32;          \
    if (item < (COUNT)) FN<T>(args, item, SC_LANE);                               \
  }

#define SC_RASTER_GAUSSIAN_KERNELS(SUF, T)                                                    \
  SC_RASTER_PER_ITEM_KERNEL(raster_activate, sc_raster_activate, args.n, SUF, T)              \
  SC_RASTER_PER_ITEM_KERNEL(raster_project, sc_raster_project, args.n, SUF, T)                \
  SC_RASTER_PER_SIMD_KERNEL(raster_count, sc_raster_count, args.n + 1, SUF, T)                \
  SC_RASTER_PER_SIMD_KERNEL(raster_emit, sc_raster_emit, args.n, SUF, T)                      \
  SC_RASTER_PER_ITEM_KERNEL(raster_tile_ranges, sc_raster_tile_range, args.n_isects, SUF, T)  \
  SC_RASTER_PER_SIMD_KERNEL(raster_sum_isects, sc_raster_sum_isects, args.n, SUF, T)          \
  SC_RASTER_PER_ITEM_KERNEL(raster_gaussian_backward, sc_raster_gaussian_backward, args.n, SUF, T)
SC_GPU_FOR_FLOATS(SC_RASTER_GAUSSIAN_KERNELS)
