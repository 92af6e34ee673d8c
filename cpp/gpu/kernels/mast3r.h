// MASt3R inference on the GPU (cpp/mast3r/gpu_forward.cpp), float32:
//   mast3r_layer_norm   a SIMD group per row: two passes (mean, then the sum of
//                       squared deviations) with SIMD sums, as kernels/layernorm.h
//   mast3r_rope         2-D RoPE in place, a thread per rotated pair (kernels/rope.h
//                       form: channel i pairs with i + n in each half of a head)
//   mast3r_attention    fused attention with the online softmax of kernels/attention.h:
//                       a group per (query block, head, item); the block's queries
//                       (pre-scaled) and each block of keys / values staged in shared
//                       memory; a query row's scores for one key block live in shared
//                       memory, never the whole N x N matrix
//   mast3r_bias_act     the epilogue of a Linear: bias, GELU, residual accumulate
//   mast3r_channel_bias a conv's output set to its bias (+ a residual) before the
//                       GEMM accumulates into it
//   mast3r_dense_post   DPT (4, HW) -> pts3d, conf (kernels/mast3r_post.h)
//   mast3r_desc_post    local-feature tokens -> unit descriptors + desc_conf, with the
//                       pixel shuffle (kernels/mast3r_post.h)
#pragma once
#include "gpu/kernels/mast3r_args.h"
#include "kernels/attention.h"
#include "kernels/elementwise.h"
#include "kernels/mast3r_post.h"

#define SC_MAST3R_LN_ROWS 8          // rows (SIMD groups) per layer-norm group
#define SC_MAST3R_ATTN_THREADS 128   // threads per attention group
#define SC_MAST3R_ATTN_CH 16         // output channels per attention thread
#define SC_MAST3R_ATTN_SHARED 7168   // floats of shared memory per attention group (28 KB)

SC_KERNEL(mast3r_layer_norm, ScMast3rLayerNormArgs) {
  const sc_i64 row = (sc_i64)SC_GID_X * SC_MAST3R_LN_ROWS + SC_SIMD_ID;
  if (row >= args.rows) return;  // the whole SIMD group: no collective is left waiting
  const int n = args.n, lane = (int)SC_LANE;
  SC_PTR(const float) x = args.x + row * args.ldx;
  float s = 0.0f;
  for (int i = lane; i < n; i += SC_SIMD_WIDTH) s += x[i];
  const float mean = sc_simd_sum(s) / (float)n;
  float ss = 0.0f;
  for (int i = lane; i < n; i += SC_SIMD_WIDTH) {
    const float d = x[i] - mean;
    ss += d * d;
  }
  const float rstd = 1.0f / sqrt(sc_simd_sum(ss) / (float)n + args.eps);
  SC_PTR(float) y = args.y + row * args.ldy;
  for (int i = lane; i < n; i += SC_SIMD_WIDTH) y[i] = (x[i] - mean) * rstd * args.w[i] + args.b[i];
}

SC_KERNEL(mast3r_rope, ScMast3rRopeArgs) {
  const sc_i64 e = (sc_i64)SC_GID_X * SC_GSIZE_X + SC_TID_X;
  const sc_i64 per_row = (sc_i64)args.heads * 2 * args.n;  // rotated pairs per row
  if (e >= args.rows * per_row) return;
  const sc_i64 row = e / per_row;
  const int r = (int)(e % per_row), n = args.n;
  const int head = r / (2 * n), seg = (r / n) % 2, i = r % n;  // seg 0: row y, 1: column x
  int p = args.pos[2 * row + seg];
  p = p < 0 ? 0 : (p >= args.npos ? args.npos - 1 : p);  // the host checks the range
  const float c = args.cos_t[(sc_i64)p * n + i], s = args.sin_t[(sc_i64)p * n + i];
  SC_PTR(float) xs = args.x + row * args.ldx + (sc_i64)head * 4 * n + seg * 2 * n;
  const float a = xs[i], b = xs[i + n];
  xs[i] = a * c - b * s;
  xs[i + n] = b * c + a * s;
}

// Shared layout: Q (bq x D, scaled), K (bk x D), V (bk x D), S (bq x bk).
// Thread t: query qi = t / tq of the block, part = t % tq; it computes the
// scores of keys part, part + tq, ... and accumulates output channels
// [part * 16, part * 16 + 16) of its query. Every thread of a query keeps the
// same (m, l) running state (the same arithmetic on the same shared scores).
SC_KERNEL(mast3r_attention, ScMast3rAttentionArgs) {
  SC_SHARED(float, sm, SC_MAST3R_ATTN_SHARED);
  const int D = args.D, tq = args.tq, bq = args.bq, bk = args.bk;
  const int tid = (int)SC_LOCAL_ID, nthreads = bq * tq;
  const int qi = tid / tq, part = tid % tq;
  const sc_i64 q0 = (sc_i64)SC_GID_X * bq, head = SC_GID_Y, item = SC_GID_Z;
  const int q_off = 0, k_off = bq * D, v_off = k_off + bk * D, s_off = v_off + bk * D;
  const sc_i64 col = head * D;
  // stage the query block, scaled (queries past Nq are zeros: finite scores, never written)
  for (int e = tid; e < bq * D; e += nthreads) {
    const int r = e / D, d = e % D;
    const sc_i64 qr = q0 + r;
    sm[q_off + e] = qr < args.Nq ? args.q[(item * args.Nq + qr) * args.ldq + col + d] * args.scale : 0.0f;
  }
  float o[SC_MAST3R_ATTN_CH];
  for (int c = 0; c < SC_MAST3R_ATTN_CH; ++c) o[c] = 0.0f;
  float m = SC_ATTN_M_START, l = 0.0f;
  const int c0 = part * SC_MAST3R_ATTN_CH;
  for (int j0 = 0; j0 < args.Nk; j0 += bk) {
    const int nvalid = args.Nk - j0 < bk ? args.Nk - j0 : bk;
    SC_BARRIER();  // the previous block's K / V / S are no longer read
    for (int e = tid; e < bk * D; e += nthreads) {
      const int r = e / D, d = e % D;
      const bool ok = r < nvalid;
      const sc_i64 kr = item * args.Nk + j0 + r;
      sm[k_off + e] = ok ? args.k[kr * args.ldk + col + d] : 0.0f;
      sm[v_off + e] = ok ? args.v[kr * args.ldv + col + d] : 0.0f;
    }
    SC_BARRIER();
    for (int j = part; j < nvalid; j += tq) {
      float s = 0.0f;
      for (int d = 0; d < D; ++d) s += sm[q_off + qi * D + d] * sm[k_off + j * D + d];
      sm[s_off + qi * bk + j] = s;
    }
    SC_BARRIER();
    float mb = m;
    for (int j = 0; j < nvalid; ++j) {
      const float s = sm[s_off + qi * bk + j];
      mb = s > mb ? s : mb;
    }
    const float alpha = sc_exp(m - mb);
    m = mb;
    l *= alpha;
    for (int c = 0; c < SC_MAST3R_ATTN_CH; ++c) o[c] *= alpha;
    for (int j = 0; j < nvalid; ++j) {
      const float p = sc_exp(sm[s_off + qi * bk + j] - m);
      l += p;
      for (int c = 0; c < SC_MAST3R_ATTN_CH; ++c)
        if (c0 + c < D) o[c] += p * sm[v_off + j * D + c0 + c];
    }
  }
  const sc_i64 qr = q0 + qi;
  if (qr >= args.Nq) return;
  const float inv = 1.0f / l;
  SC_PTR(float) out = args.out + (item * args.Nq + qr) * args.ldo + col;
  for (int c = 0; c < SC_MAST3R_ATTN_CH; ++c)
    if (c0 + c < D) out[c0 + c] = o[c] * inv;
}

SC_KERNEL(mast3r_bias_act, ScMast3rBiasActArgs) {
  const sc_i64 e = (sc_i64)SC_GID_X * SC_GSIZE_X + SC_TID_X;
  if (e >= args.rows * args.cols) return;
  const sc_i64 r = e / args.cols, c = e % args.cols;
  float v = args.t[e] + (args.has_bias ? args.b[c] : 0.0f);
  SC_PTR(float) y = args.y + r * args.ldy + c;
  if (args.accumulate) {
    *y += v;
  } else {
    *y = args.act == 1 ? sc_gelu(v) : v;
  }
}

SC_KERNEL(mast3r_channel_bias, ScMast3rChannelBiasArgs) {
  const sc_i64 e = (sc_i64)SC_GID_X * SC_GSIZE_X + SC_TID_X;
  if (e >= args.channels * args.P) return;
  args.y[e] = (args.has_bias ? args.b[e / args.P] : 0.0f) + (args.has_res ? args.res[e] : 0.0f);
}

SC_KERNEL(mast3r_dense_post, ScMast3rDensePostArgs) {
  const sc_i64 i = (sc_i64)SC_GID_X * SC_GSIZE_X + SC_TID_X;
  if (i >= args.HW) return;
  const sc_i64 HW = args.HW;
  sc_reg_dense_depth3<float>(args.d[i], args.d[HW + i], args.d[2 * HW + i], args.mode, args.pts + 3 * i);
  args.conf[i] = sc_reg_dense_conf_exp(args.d[3 * HW + i], args.cmin, args.cmax);
}

SC_KERNEL(mast3r_desc_post, ScMast3rDescPostArgs) {
  const sc_i64 i = (sc_i64)SC_GID_X * SC_GSIZE_X + SC_TID_X;
  if (i >= args.H * args.W) return;
  const sc_i64 Y = i / args.W, X = i % args.W;
  const int p = args.p, pp = p * p;
  const sc_i64 t = (Y / p) * args.w + X / p;
  SC_PTR(const float) base = args.feat + t * args.F + (Y % p) * p + (X % p);
  sc_reg_desc_norm<float>(base, args.D, pp, args.desc + i * args.D);
  args.dconf[i] = args.two ? sc_reg_dense_conf_exp(base[(sc_i64)args.D * pp], args.cmin, args.cmax)
                           : args.conf[i];
}
