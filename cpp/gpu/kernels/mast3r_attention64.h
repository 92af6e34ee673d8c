// Fused attention for head dimension 64 (every head of MASt3R's ViT-L encoder
// and ViT-B decoder), register-tiled: the online softmax of kernels/attention.h
// (FlashAttention, Dao et al. 2022) with each thread holding a 4 x 4 tile of
// scores and a 4 x 8 tile of the output, so a score costs half a shared-memory
// read instead of two (gpu/kernels/mast3r.h's general kernel reads q and k from
// shared memory for every product).
//
// A group of 128 threads takes 64 queries of one head of one item and walks the
// keys 32 at a time. Thread t owns query rows 4 (t / 8) .. + 3 and
//   scores  of keys 4 (t % 8) .. + 3 of the block  (S = Q K^T, 64 products each)
//   output  channels 8 (t % 8) .. + 7              (O += P V, 32 products each)
// The 8 threads of a row quad are 8 consecutive lanes of one SIMD group, so a
// row's maximum is 3 butterfly shuffles, and every lane ends with the same
// value (max is exact; the final sum of l is commutative at each step).
//
// Few groups (a pair's decoder: 12 query blocks x 12 heads) leave most of the
// GPU idle, so the keys can be split among several groups per query block
// (split-KV, as FlashDecoding), each writing its unnormalised part, merged by
// mast3r_attention_combine.
//
// Shared memory, 8192 floats (32 KB, Metal's limit):
//   Q  64 x 64, scaled, and K 32 x 64, each row's channels XOR-swizzled so that
//      the rows read together (Q: 4 row quads of a SIMD group; K: 8 quads) sit
//      in different banks;
//   V  32 x 64 plain;
//   P  64 x 32, the block's probabilities, in K's space once the scores are
//      computed, each row rotated by its quad's index within the SIMD group, so
//      that the 32 lanes write and read 32 different banks.
#pragma once
#include "gpu/kernels/mast3r_args.h"
#include "kernels/attention.h"
#include "kernels/elementwise.h"

#define SC_ATTN64_THREADS 128
#define SC_ATTN64_BQ 64
#define SC_ATTN64_BK 32

// The channel swizzles (XOR masks below 32, so channel d stays in its half):
// Q row quads read together differ in the quad's bits 0..1 -> channel bits 3..4;
// K rows 4 a + j read together (a = 0..7) differ in row bits 2..4 -> channel bits 2..4.
SC_FN int sc_attn64_qswz(int quad) { return (quad & 3) << 3; }
SC_FN int sc_attn64_kswz(int row) { return row & 28; }

SC_KERNEL(mast3r_attention64, ScMast3rAttentionArgs) {
  SC_SHARED(float, sm, 8192);
  const int tid = (int)SC_LOCAL_ID, rq = tid >> 3, part = tid & 7;  // row quad, part of it
  const int split = (int)SC_GID_X % args.splits;
  const sc_i64 q0 = (sc_i64)(SC_GID_X / args.splits) * SC_ATTN64_BQ, head = SC_GID_Y, item = SC_GID_Z;
  const int k_begin = sc_attn_split_begin(args, split), k_end = sc_attn_split_end(args, split);
  const sc_i64 col = head * 64;
  const int q_off = 0, k_off = 4096, v_off = 6144, p_off = 4096;
  const int prot = rq & 3;  // P's rotation
  // stage the query block, scaled; queries past Nq are zeros (finite scores, never written)
  for (int e = tid; e < SC_ATTN64_BQ * 64; e += SC_ATTN64_THREADS) {
    const int r = e >> 6, d = e & 63;
    const sc_i64 qr = q0 + r;
    sm[q_off + r * 64 + (d ^ sc_attn64_qswz(r >> 2))] =
        qr < args.Nq ? args.q[(item * args.Nq + qr) * args.ldq + col + d] * args.scale : 0.0f;
  }
  float o[4][8];
  float m[4], l[4];  // l: this thread's part of the row sums (its 4 keys of each block)
  for (int i = 0; i < 4; ++i) {
    m[i] = SC_ATTN_M_START;
    l[i] = 0.0f;
    for (int c = 0; c < 8; ++c) o[i][c] = 0.0f;
  }
  for (int j0 = k_begin; j0 < k_end; j0 += SC_ATTN64_BK) {
    const int nvalid = k_end - j0 < SC_ATTN64_BK ? k_end - j0 : SC_ATTN64_BK;
    SC_BARRIER();  // the previous block's P and V are no longer read
    for (int e = tid; e < SC_ATTN64_BK * 64; e += SC_ATTN64_THREADS) {
      const int r = e >> 6, d = e & 63;
      const bool ok = r < nvalid;
      const sc_i64 kr = item * args.Nk + j0 + r;
      sm[k_off + r * 64 + (d ^ sc_attn64_kswz(r))] = ok ? args.k[kr * args.ldk + col + d] : 0.0f;
      sm[v_off + r * 64 + d] = ok ? args.v[kr * args.ldv + col + d] : 0.0f;
    }
    SC_BARRIER();
    float s[4][4];
    for (int i = 0; i < 4; ++i)
      for (int j = 0; j < 4; ++j) s[i][j] = 0.0f;
    const int qs = sc_attn64_qswz(rq), ks = sc_attn64_kswz(4 * part);
    for (int d = 0; d < 64; ++d) {
      float qv[4], kv[4];
      for (int i = 0; i < 4; ++i) qv[i] = sm[q_off + (4 * rq + i) * 64 + (d ^ qs)];
      for (int j = 0; j < 4; ++j) kv[j] = sm[k_off + (4 * part + j) * 64 + (d ^ ks)];
      for (int i = 0; i < 4; ++i)
        for (int j = 0; j < 4; ++j) s[i][j] += qv[i] * kv[j];
    }
    for (int j = 0; j < 4; ++j)  // padding keys never count
      if (4 * part + j >= nvalid)
        for (int i = 0; i < 4; ++i) s[i][j] = SC_ATTN_M_START;
    float alpha[4];
    for (int i = 0; i < 4; ++i) {
      float mb = s[i][0];
      for (int j = 1; j < 4; ++j) mb = s[i][j] > mb ? s[i][j] : mb;
      for (int w = 1; w < 8; w <<= 1) {  // the row's maximum over its 8 lanes
        const float other = sc_simd_shuffle(mb, SC_LANE ^ (unsigned)w);
        mb = other > mb ? other : mb;
      }
      const float mn = mb > m[i] ? mb : m[i];
      alpha[i] = sc_exp(m[i] - mn);
      m[i] = mn;
      float sum = 0.0f;
      for (int j = 0; j < 4; ++j) {
        s[i][j] = sc_exp(s[i][j] - mn);
        sum += s[i][j];
      }
      l[i] = l[i] * alpha[i] + sum;
      for (int c = 0; c < 8; ++c) o[i][c] *= alpha[i];
    }
    SC_BARRIER();  // every score is computed: K's space takes P
    for (int i = 0; i < 4; ++i)
      for (int j = 0; j < 4; ++j) sm[p_off + (4 * rq + i) * SC_ATTN64_BK + ((4 * part + j + prot) & 31)] = s[i][j];
    SC_BARRIER();
    for (int k = 0; k < SC_ATTN64_BK; ++k) {
      float pv[4], vv[8];
      for (int i = 0; i < 4; ++i) pv[i] = sm[p_off + (4 * rq + i) * SC_ATTN64_BK + ((k + prot) & 31)];
      for (int c = 0; c < 8; ++c) vv[c] = sm[v_off + k * 64 + 8 * part + c];
      for (int i = 0; i < 4; ++i)
        for (int c = 0; c < 8; ++c) o[i][c] += pv[i] * vv[c];
    }
  }
  for (int i = 0; i < 4; ++i) {
    float lt = l[i];
    for (int w = 1; w < 8; w <<= 1) lt += sc_simd_shuffle(lt, SC_LANE ^ (unsigned)w);
    const sc_i64 qr = q0 + 4 * rq + i;
    if (qr >= args.Nq) continue;
    const sc_i64 row = item * args.Nq + qr;
    if (args.splits > 1) {  // this split's part: unnormalised output and (m, l)
      const sc_i64 prow = sc_attn_part_row(args, split, row);
      SC_PTR(float) po = args.part_o + prow * args.heads * 64 + col + 8 * part;
      for (int c = 0; c < 8; ++c) po[c] = o[i][c];
      if (part == 0) sc_attn_store_state(args, prow, head, m[i], lt);
      continue;
    }
    const float inv = 1.0f / lt;
    SC_PTR(float) out = args.out + row * args.ldo + col + 8 * part;
    for (int c = 0; c < 8; ++c) out[c] = o[i][c] * inv;
  }
}

// The splits' parts of mast3r_attention64 merged (the online softmax's rescaling
// across splits): with M = max_s m_s, out = sum_s e^(m_s - M) o_s / sum_s e^(m_s - M) l_s.
// A thread per (row, head, channel), splits in order.
SC_KERNEL(mast3r_attention_combine, ScMast3rAttentionArgs) {
  const sc_i64 e = (sc_i64)SC_GID_X * SC_GSIZE_X + SC_TID_X;
  const sc_i64 rows = (sc_i64)args.Nq * args.batch;
  const sc_i64 C = (sc_i64)args.heads * 64;
  if (e >= rows * C) return;
  const sc_i64 row = e / C, c = e % C, head = c / 64;
  float M = SC_ATTN_M_START;
  for (int s = 0; s < args.splits; ++s) {
    const float ms = args.part_ml[(((sc_i64)s * rows + row) * args.heads + head) * 2];
    M = ms > M ? ms : M;
  }
  float num = 0.0f, den = 0.0f;
  for (int s = 0; s < args.splits; ++s) {
    const sc_i64 pr = (sc_i64)s * rows + row;
    const float w = sc_exp(args.part_ml[(pr * args.heads + head) * 2] - M);
    num += w * args.part_o[pr * C + c];
    den += w * args.part_ml[(pr * args.heads + head) * 2 + 1];
  }
  args.out[row * args.ldo + c] = num / den;
}
