// Fused attention for head dimension 64 on TF32 matrix units: the online
// softmax of mast3r_attention64.h (FlashAttention-2, Dao 2023: a SIMD group owns
// whole query rows, so softmax needs no shared memory) with both products,
// S = Q K^T and O += P V, as 16 x 8 x 8 SIMD-group multiply-accumulates
// (gpu/dialect_mma.h). Taken when the float32 matmul precision is "high" or
// "medium" (TF32 / bfloat16 GEMMs), as PyTorch's attention also leaves float32.
//
// A group of 128 threads (4 SIMD groups) takes 64 queries of one head of one
// item; SIMD group w owns query rows 16 w .. 16 w + 15 and keeps them in
// registers as A fragments (8 k-steps over the 64 channels), scaled and rounded
// to TF32. Keys come 32 at a time through shared memory. Per block a SIMD group
//   S (16 x 32)  = 4 tiles of 8 keys x 8 k-steps       32 multiply-accumulates
//   O (16 x 64) += 8 tiles of 8 channels x 4 k-steps    32 multiply-accumulates
// With g = lane / 4, t = lane % 4, a lane holds S[g | g+8][8 n + 2t + {0, 1}],
// so a row's maximum and sum are over the 4 lanes of a quad (2 shuffles).
// P feeds the second product straight from S's registers: A's columns t and
// t + 4 of k-step n are taken to be keys 8 n + 2t and 8 n + 2t + 1 (the sum over
// keys does not care about their order), and V's rows are read in that order.
//
// Shared memory: K and V 32 x 64 each, rows 68 floats apart, so that the 32
// lanes' fragment reads (K: 8 rows x 4 channels; V: 4 row pairs x 8 channels)
// fall in 32 different banks. 17 KB.
// Split-KV and its merge are those of mast3r_attention64 (same arguments).
#pragma once
#include "gpu/dialect_mma.h"
#include "gpu/kernels/mast3r_args.h"
#include "kernels/attention.h"
#include "kernels/elementwise.h"

#define SC_ATTN64TC_BK 32
#define SC_ATTN64TC_LD 68

SC_KERNEL(mast3r_attention64_tc, ScMast3rAttentionArgs) {
  SC_SHARED(float, sm, 2 * SC_ATTN64TC_BK * SC_ATTN64TC_LD);
  const int tid = (int)SC_LOCAL_ID, warp = tid >> 5;
  const int g = (int)(SC_LANE >> 2), t = (int)(SC_LANE & 3u);
  const int split = (int)SC_GID_X % args.splits;
  const sc_i64 q0 = (sc_i64)(SC_GID_X / args.splits) * 64, head = SC_GID_Y, item = SC_GID_Z;
  const int k_begin = sc_attn_split_begin(args, split), k_end = sc_attn_split_end(args, split);
  const sc_i64 col = head * 64;
  const int v_off = SC_ATTN64TC_BK * SC_ATTN64TC_LD;
  const sc_i64 row0 = q0 + 16 * warp + g;  // this lane's rows: row0 and row0 + 8
  float qf[8][4];
  for (int ks = 0; ks < 8; ++ks)
    for (int i = 0; i < 4; ++i) {
      const sc_i64 r = row0 + 8 * (i & 1);
      const int d = 8 * ks + t + 4 * (i >> 1);
      qf[ks][i] = r < args.Nq ? sc_tf32_round(args.q[(item * args.Nq + r) * args.ldq + col + d] * args.scale) : 0.0f;
    }
  float o[8][4];
  float m[2], l[2];  // per row (g, g + 8); l: this lane's part of the row sum
  for (int r = 0; r < 2; ++r) {
    m[r] = SC_ATTN_M_START;
    l[r] = 0.0f;
  }
  for (int n = 0; n < 8; ++n)
    for (int i = 0; i < 4; ++i) o[n][i] = 0.0f;
  for (int j0 = k_begin; j0 < k_end; j0 += SC_ATTN64TC_BK) {
    const int nvalid = k_end - j0 < SC_ATTN64TC_BK ? k_end - j0 : SC_ATTN64TC_BK;
    SC_BARRIER();  // the previous block's K and V are no longer read
    for (int e = tid; e < SC_ATTN64TC_BK * 64; e += 128) {
      const int r = e >> 6, d = e & 63;
      const bool ok = r < nvalid;
      const sc_i64 kr = item * args.Nk + j0 + r;
      sm[r * SC_ATTN64TC_LD + d] = ok ? sc_tf32_round(args.k[kr * args.ldk + col + d]) : 0.0f;
      sm[v_off + r * SC_ATTN64TC_LD + d] = ok ? sc_tf32_round(args.v[kr * args.ldv + col + d]) : 0.0f;
    }
    SC_BARRIER();
    float s[4][4];
    for (int n = 0; n < 4; ++n)
      for (int i = 0; i < 4; ++i) s[n][i] = 0.0f;
    for (int ks = 0; ks < 8; ++ks)
      for (int n = 0; n < 4; ++n) {  // B[c][key] = K[key][c]
        const int base = (8 * n + g) * SC_ATTN64TC_LD + 8 * ks + t;
        const float b[2] = {sm[base], sm[base + 4]};
        sc_mma_tf32_16x8x8(s[n], qf[ks], b, SC_LANE);
      }
    for (int n = 0; n < 4; ++n)  // padding keys never count
      for (int i = 0; i < 4; ++i)
        if (8 * n + 2 * t + (i & 1) >= nvalid) s[n][i] = SC_ATTN_M_START;
    for (int r = 0; r < 2; ++r) {
      float mb = s[0][2 * r];
      for (int n = 0; n < 4; ++n)
        for (int j = 0; j < 2; ++j) mb = s[n][2 * r + j] > mb ? s[n][2 * r + j] : mb;
      for (unsigned int w = 1u; w < 4u; w <<= 1) {  // over the quad
        const float other = sc_simd_shuffle(mb, SC_LANE ^ w);
        mb = other > mb ? other : mb;
      }
      const float mn = mb > m[r] ? mb : m[r];
      const float alpha = sc_exp(m[r] - mn);
      m[r] = mn;
      float sum = 0.0f;
      for (int n = 0; n < 4; ++n)
        for (int j = 0; j < 2; ++j) {
          const float p = sc_exp(s[n][2 * r + j] - mn);
          s[n][2 * r + j] = p;
          sum += p;
        }
      l[r] = l[r] * alpha + sum;
      for (int n = 0; n < 8; ++n) {
        o[n][2 * r] *= alpha;
        o[n][2 * r + 1] *= alpha;
      }
    }
    for (int kk = 0; kk < 4; ++kk) {
      // A's (row, column t | t + 4) = P's (row, key 8 kk + 2t | 2t + 1)
      const float a[4] = {sc_tf32_round(s[kk][0]), sc_tf32_round(s[kk][2]), sc_tf32_round(s[kk][1]),
                          sc_tf32_round(s[kk][3])};
      const int vrow = v_off + (8 * kk + 2 * t) * SC_ATTN64TC_LD + g;
      for (int n = 0; n < 8; ++n) {
        const float b[2] = {sm[vrow + 8 * n], sm[vrow + SC_ATTN64TC_LD + 8 * n]};
        sc_mma_tf32_16x8x8(o[n], a, b, SC_LANE);
      }
    }
  }
  for (int r = 0; r < 2; ++r) {
    float lt = l[r];
    lt += sc_simd_shuffle(lt, SC_LANE ^ 1u);
    lt += sc_simd_shuffle(lt, SC_LANE ^ 2u);
    const sc_i64 qr = row0 + 8 * r;
    if (qr >= args.Nq) continue;
    const sc_i64 row = item * args.Nq + qr;
    if (args.splits > 1) {  // this split's part: unnormalised output and (m, l)
      const sc_i64 prow = sc_attn_part_row(args, split, row);
      SC_PTR(float) po = args.part_o + prow * args.heads * 64 + col + 2 * t;
      for (int n = 0; n < 8; ++n) {
        po[8 * n] = o[n][2 * r];
        po[8 * n + 1] = o[n][2 * r + 1];
      }
      if (t == 0) sc_attn_store_state(args, prow, head, m[r], lt);
      continue;
    }
    const float inv = 1.0f / lt;
    SC_PTR(float) out = args.out + row * args.ldo + col + 2 * t;
    for (int n = 0; n < 8; ++n) {
      out[8 * n] = o[n][2 * r] * inv;
      out[8 * n + 1] = o[n][2 * r + 1] * inv;
    }
  }
}
