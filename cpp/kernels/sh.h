// Real spherical harmonics up to degree 3, as in 3D Gaussian Splatting
// (Kerbl et al. 2023): the colour seen along unit direction (x, y, z) is
// max(sum_k basis_k * coeff_k + 0.5, 0). One Gaussian's coefficients are
// coeffs[k * 3 + c] for k < (degree + 1)^2, c = R, G, B.
#pragma once
#include "kernels/compat.h"

// Fills basis[0..(degree+1)^2) and, when want_grad, the partial derivatives
// d basis / dx, dy, dz (derived by hand from the polynomials below).
template <typename T>
SC_FN void sc_sh_basis(int degree, T x, T y, T z, SC_THREAD T* b, SC_THREAD T* bx,
                       SC_THREAD T* by, SC_THREAD T* bz, bool want_grad) {
  const T C0 = T(0.28209479177387814), C1 = T(0.4886025119029199);
  const T C20 = T(1.0925484305920792), C21 = T(-1.0925484305920792), C22 = T(0.31539156525252005),
          C23 = T(-1.0925484305920792), C24 = T(0.5462742152960396);
  const T C30 = T(-0.5900435899266435), C31 = T(2.890611442640554), C32 = T(-0.4570457994644658),
          C33 = T(0.3731763325901154), C34 = T(-0.4570457994644658), C35 = T(1.445305721320277),
          C36 = T(-0.5900435899266435);
  b[0] = C0;
  if (want_grad) { bx[0] = T(0); by[0] = T(0); bz[0] = T(0); }
  if (degree < 1) return;
  b[1] = -C1 * y;
  b[2] = C1 * z;
  b[3] = -C1 * x;
  if (want_grad) {
    bx[1] = T(0); by[1] = -C1;  bz[1] = T(0);
    bx[2] = T(0); by[2] = T(0); bz[2] = C1;
    bx[3] = -C1;  by[3] = T(0); bz[3] = T(0);
  }
  if (degree < 2) return;
  T xx = x * x, yy = y * y, zz = z * z, xy = x * y, yz = y * z, xz = x * z;
  b[4] = C20 * xy;
  b[5] = C21 * yz;
  b[6] = C22 * (T(2) * zz - xx - yy);
  b[7] = C23 * xz;
  b[8] = C24 * (xx - yy);
  if (want_grad) {
    bx[4] = C20 * y;          by[4] = C20 * x;          bz[4] = T(0);
    bx[5] = T(0);             by[5] = C21 * z;          bz[5] = C21 * y;
    bx[6] = T(-2) * C22 * x;  by[6] = T(-2) * C22 * y;  bz[6] = T(4) * C22 * z;
    bx[7] = C23 * z;          by[7] = T(0);             bz[7] = C23 * x;
    bx[8] = T(2) * C24 * x;   by[8] = T(-2) * C24 * y;  bz[8] = T(0);
  }
  if (degree < 3) return;
  b[9] = C30 * y * (T(3) * xx - yy);
  b[10] = C31 * xy * z;
  b[11] = C32 * y * (T(4) * zz - xx - yy);
  b[12] = C33 * z * (T(2) * zz - T(3) * xx - T(3) * yy);
  b[13] = C34 * x * (T(4) * zz - xx - yy);
  b[14] = C35 * z * (xx - yy);
  b[15] = C36 * x * (xx - T(3) * yy);
  if (want_grad) {
    bx[9] = C30 * T(6) * xy;                    by[9] = C30 * T(3) * (xx - yy);
    bz[9] = T(0);
    bx[10] = C31 * yz;                          by[10] = C31 * xz;
    bz[10] = C31 * xy;
    bx[11] = C32 * T(-2) * xy;                  by[11] = C32 * (T(4) * zz - xx - T(3) * yy);
    bz[11] = C32 * T(8) * yz;
    bx[12] = C33 * T(-6) * xz;                  by[12] = C33 * T(-6) * yz;
    bz[12] = C33 * (T(6) * zz - T(3) * xx - T(3) * yy);
    bx[13] = C34 * (T(4) * zz - T(3) * xx - yy); by[13] = C34 * T(-2) * xy;
    bz[13] = C34 * T(8) * xz;
    bx[14] = C35 * T(2) * xz;                   by[14] = C35 * T(-2) * yz;
    bz[14] = C35 * (xx - yy);
    bx[15] = C36 * T(3) * (xx - yy);            by[15] = C36 * T(-6) * xy;
    bz[15] = T(0);
  }
}

// Colour of one Gaussian seen from camera centre (cx, cy, cz); mean (mx, my, mz).
// Coefficients (stride 3 per k): dc holds k = 0, rest holds k >= 1 (for one
// (K,3) block, rest = dc + 3; training keeps them in separate tensors).
template <typename T>
SC_FN void sc_sh_color_split(int degree, T mx, T my, T mz, T camx, T camy, T camz,
                             SC_DEVICE const T* dc, SC_DEVICE const T* rest, SC_THREAD T* rgb) {
  T dx = mx - camx, dy = my - camy, dz = mz - camz;
  T inv = T(1) / sqrt(dx * dx + dy * dy + dz * dz);
  T b[16], unused[1];
  sc_sh_basis(degree, dx * inv, dy * inv, dz * inv, b, unused, unused, unused, false);
  int nk = (degree + 1) * (degree + 1);
  for (int c = 0; c < 3; ++c) {
    T s = T(0.5) + b[0] * dc[c];
    for (int k = 1; k < nk; ++k) s += b[k] * rest[(k - 1) * 3 + c];
    rgb[c] = s > T(0) ? s : T(0);
  }
}

// The same for one (K,3) block of coefficients.
template <typename T>
SC_FN void sc_sh_color(int degree, T mx, T my, T mz, T camx, T camy, T camz,
                       SC_DEVICE const T* coeffs, SC_THREAD T* rgb) {
  sc_sh_color_split(degree, mx, my, mz, camx, camy, camz, coeffs, coeffs + 3, rgb);
}

// Backward of sc_sh_color_split: given v_rgb, writes v_dc (3) and v_rest (the
// first ((degree+1)^2 - 1) * 3 entries; same layouts as dc / rest) and returns
// the gradient w.r.t. the unnormalised direction mean - campos in v_dir[3] (add
// it to v_mean, subtract it from v_campos).
template <typename T>
SC_FN void sc_sh_color_split_backward(int degree, T mx, T my, T mz, T camx, T camy, T camz,
                                      SC_DEVICE const T* dc, SC_DEVICE const T* rest,
                                      SC_THREAD const T* v_rgb, SC_DEVICE T* v_dc, SC_DEVICE T* v_rest,
                                      SC_THREAD T* v_dir) {
  T dx = mx - camx, dy = my - camy, dz = mz - camz;
  T inv = T(1) / sqrt(dx * dx + dy * dy + dz * dz);
  T x = dx * inv, y = dy * inv, z = dz * inv;
  T b[16], bx[16], by[16], bz[16];
  sc_sh_basis(degree, x, y, z, b, bx, by, bz, true);
  int nk = (degree + 1) * (degree + 1);
  // The clamp max(., 0) passes gradient only where the colour was positive.
  T g[3];
  for (int c = 0; c < 3; ++c) {
    T s = T(0.5) + b[0] * dc[c];
    for (int k = 1; k < nk; ++k) s += b[k] * rest[(k - 1) * 3 + c];
    g[c] = s > T(0) ? v_rgb[c] : T(0);
  }
  T vx = T(0), vy = T(0), vz = T(0);
  for (int k = 0; k < nk; ++k) {
    SC_DEVICE const T* ck = k == 0 ? dc : rest + (k - 1) * 3;
    SC_DEVICE T* vk = k == 0 ? v_dc : v_rest + (k - 1) * 3;
    T w = T(0);
    for (int c = 0; c < 3; ++c) {
      vk[c] = b[k] * g[c];
      w += ck[c] * g[c];
    }
    vx += bx[k] * w;
    vy += by[k] * w;
    vz += bz[k] * w;
  }
  // Through the normalisation u = d / |d|: v_d = (v_u - u (u . v_u)) / |d|.
  T dot = x * vx + y * vy + z * vz;
  v_dir[0] = (vx - x * dot) * inv;
  v_dir[1] = (vy - y * dot) * inv;
  v_dir[2] = (vz - z * dot) * inv;
}

// Backward of sc_sh_color: v_coeffs has the layout of coeffs (overwrites the
// first (degree+1)^2 * 3 entries).
template <typename T>
SC_FN void sc_sh_color_backward(int degree, T mx, T my, T mz, T camx, T camy, T camz,
                                SC_DEVICE const T* coeffs, SC_THREAD const T* v_rgb,
                                SC_DEVICE T* v_coeffs, SC_THREAD T* v_dir) {
  sc_sh_color_split_backward(degree, mx, my, mz, camx, camy, camz, coeffs, coeffs + 3, v_rgb,
                             v_coeffs, v_coeffs + 3, v_dir);
}
