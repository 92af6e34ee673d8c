// Fused scaled-dot-product attention, kernel math shared by every backend
// (kernel subset, see compat.h): the online softmax of FlashAttention
// (Milakov & Gimelshein 2018; Dao et al. 2022).
//
// The keys of one query row are visited block by block. The state of the row
// is the running maximum m of the scores seen so far and the running sum
// l = sum_j exp(s_j - m); the output accumulator o = sum_j exp(s_j - m) v_j
// is kept unnormalised. When a block raises the maximum from m to m', the old
// terms are rescaled by alpha = exp(m - m'). At the end out = o / l. Nothing
// larger than one block of scores per row is ever held.
//
// Scores are expected already scaled (the caller folds 1/sqrt(d) into q).
#pragma once
#include "kernels/compat.h"
#include "kernels/elementwise.h"

// The running maximum before any key: finite, so exp(start - m) is 0, not NaN.
#define SC_ATTN_M_START (-3.0e38f)
#define SC_ATTN_LANES 8  // partial reductions, so that the loops vectorise

// state[0] = m, state[1] = l of one query row.
template <typename T>
SC_FN void sc_attn_state_init(SC_THREAD T* state) {
  state[0] = T(SC_ATTN_M_START);
  state[1] = T(0);
}

// The largest of start and s[0 .. n).
template <typename T>
SC_FN T sc_attn_block_max(const SC_THREAD T* s, int n, T start) {
  T mx[SC_ATTN_LANES];
  for (int k = 0; k < SC_ATTN_LANES; ++k) mx[k] = start;
  int nv = n - n % SC_ATTN_LANES;
  for (int j = 0; j < nv; j += SC_ATTN_LANES)
    for (int k = 0; k < SC_ATTN_LANES; ++k) mx[k] = s[j + k] > mx[k] ? s[j + k] : mx[k];
  T m = mx[0];
  for (int k = 1; k < SC_ATTN_LANES; ++k) m = mx[k] > m ? mx[k] : m;
  for (int j = nv; j < n; ++j) m = s[j] > m ? s[j] : m;
  return m;
}

// One key block for one query row, given m = max(state[0], s[0 .. nvalid)) (a
// backend may compute it its own way): on return s[j] = exp(s_j - m) for
// j < nvalid and 0 for nvalid <= j < n (padding keys), the state holds (m, l'),
// and the result is alpha = exp(m_old - m), the factor by which the caller must
// rescale the row's accumulator before adding P V.
template <typename T>
SC_FN T sc_attn_block_update_m(SC_THREAD T* s, int nvalid, int n, SC_THREAD T* state, T m) {
  for (int j = 0; j < nvalid; ++j) s[j] = sc_exp(s[j] - m);
  for (int j = nvalid; j < n; ++j) s[j] = T(0);

  T acc[SC_ATTN_LANES];
  for (int k = 0; k < SC_ATTN_LANES; ++k) acc[k] = T(0);
  int nn = n - n % SC_ATTN_LANES;
  for (int j = 0; j < nn; j += SC_ATTN_LANES)
    for (int k = 0; k < SC_ATTN_LANES; ++k) acc[k] += s[j + k];
  T sum = T(0);
  for (int k = 0; k < SC_ATTN_LANES; ++k) sum += acc[k];
  for (int j = nn; j < n; ++j) sum += s[j];

  T alpha = sc_exp(state[0] - m);
  state[0] = m;
  state[1] = state[1] * alpha + sum;
  return alpha;
}

// One key block for one query row: s[0 .. nvalid) are its scores; on return
// s[j] = exp(s_j - m') for j < nvalid and 0 for nvalid <= j < n (padding keys),
// the state holds (m', l'), and the result is alpha = exp(m - m'), the factor
// by which the caller must rescale the row's accumulator before adding P V.
template <typename T>
SC_FN T sc_attn_block_update(SC_THREAD T* s, int nvalid, int n, SC_THREAD T* state) {
  return sc_attn_block_update_m(s, nvalid, n, state, sc_attn_block_max(s, nvalid, state[0]));
}

// Rescales one accumulator row by alpha (after sc_attn_block_update).
template <typename T>
SC_FN void sc_attn_rescale(SC_THREAD T* o, int d, T alpha) {
  for (int i = 0; i < d; ++i) o[i] = o[i] * alpha;
}

// out[i] = o[i] / l: the normalised attention output of one row.
template <typename T>
SC_FN void sc_attn_finish(const SC_THREAD T* o, int d, SC_THREAD const T* state,
                          SC_DEVICE T* out) {
  T inv = T(1) / state[1];
  for (int i = 0; i < d; ++i) out[i] = o[i] * inv;
}
