// 2-D rotary position embedding (RoPE) as CroCo's RoPE2D (Heo et al. 2024,
// "Rotary Position Embedding for Vision Transformer"; CroCo v2, Weinzaepfel
// et al. 2023), shared by every backend (kernel subset, see compat.h).
//
// Per attention head of dim Dh (a multiple of 4): the first Dh/2 channels are
// rotated by the token's row y, the last Dh/2 by its column x. Each half of
// length 2n (n = Dh/4) is a 1-D RoPE in "rotate-half" form: channel i pairs
// with channel i + n (not with i + 1), both rotated by the angle
//   theta_i(p) = p * base^(-2i / (2n)),   i = 0 .. n-1,
// i.e.   out[i]     = a cos(theta_i) - b sin(theta_i)
//        out[i + n] = b cos(theta_i) + a sin(theta_i)      (a = x[i], b = x[i + n]).
// The angle tables are computed by the caller (sc_rope_inv_freq), one row of n
// cosines and n sines per position.
#pragma once
#include "kernels/compat.h"

// Inverse frequency of pair i in a 1-D segment of 2n channels, computed in
// float like CroCo does: 1 / base^((2i) / (2n)).
SC_FN float sc_rope_inv_freq(float base, int i, int n) {
  return 1.0f / pow(base, (float)(2 * i) / (float)(2 * n));
}

// Rotates one 1-D segment x[0 .. 2n) in place with the angle table of its
// position (cs[i] = cos(theta_i), sn[i] = sin(theta_i)).
template <typename T>
SC_FN void sc_rope_rotate(SC_DEVICE T* x, int n, const SC_DEVICE T* cs, const SC_DEVICE T* sn) {
  for (int i = 0; i < n; ++i) {
    T a = x[i], b = x[i + n];
    x[i] = a * cs[i] - b * sn[i];
    x[i + n] = b * cs[i] + a * sn[i];
  }
}

// One head of Dh = 4n channels: first half by the row table, second by the column table.
template <typename T>
SC_FN void sc_rope2d_head(SC_DEVICE T* x, int n, const SC_DEVICE T* cos_y, const SC_DEVICE T* sin_y,
                          const SC_DEVICE T* cos_x, const SC_DEVICE T* sin_x) {
  sc_rope_rotate(x, n, cos_y, sin_y);
  sc_rope_rotate(x + 2 * n, n, cos_x, sin_x);
}
