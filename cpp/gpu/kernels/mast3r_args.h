// Argument structs of the MASt3R inference GPU kernels (gpu/kernels/mast3r.h).
// float32 throughout; matrices are row-major with an explicit row stride (ld),
// so that q / k / v are read in place from one fused qkv matrix.
#pragma once
#include "gpu/dialect.h"

// y (rows, n; stride ldy) = layer_norm(x (rows, n; stride ldx)) * w + b.
struct ScMast3rLayerNormArgs {
  SC_PTR(const float) x;
  SC_PTR(const float) w;
  SC_PTR(const float) b;
  SC_PTR(float) y;
  sc_i64 rows, ldx, ldy;
  sc_i32 n;
  float eps;
};

// 2-D RoPE in place on the first `heads` heads of head_dim = 4 n channels of
// each row of x (stride ldx); pos (rows, 2) int32 (y, x) per row; cos / sin
// tables (npos, n) as nn::make_rope_table builds them.
struct ScMast3rRopeArgs {
  SC_PTR(float) x;
  SC_PTR(const sc_i32) pos;
  SC_PTR(const float) cos_t;
  SC_PTR(const float) sin_t;
  sc_i64 rows, ldx;
  sc_i32 heads, n, npos;
};

// Fused multi-head attention softmax(q k^T * scale) v with an online softmax:
// a group per (query block, head, item); item b uses rows [b Nq, (b+1) Nq) of
// q / out and [b Nk, (b+1) Nk) of k / v; head h is columns [h D, (h+1) D).
// tq threads per query (16 output channels each), bq queries per group
// (bq * tq = SC_MAST3R_ATTN_THREADS), bk keys per staged block.
struct ScMast3rAttentionArgs {
  SC_PTR(const float) q;
  SC_PTR(const float) k;
  SC_PTR(const float) v;
  SC_PTR(float) out;
  sc_i64 ldq, ldk, ldv, ldo;
  sc_i32 Nq, Nk, D, tq, bq, bk;
  float scale;
  // mast3r_attention64 with splits > 1: group x = query block * splits + split
  // takes keys [split * split_keys, ...) and writes its unnormalised output to
  // part_o (splits, batch Nq, heads 64) and its row state (m, l) to part_ml
  // (splits, batch Nq, heads, 2); mast3r_attention_combine then merges them.
  SC_PTR(float) part_o;
  SC_PTR(float) part_ml;
  sc_i32 splits, split_keys, heads, batch;
};

// The keys split `split` takes: [split * split_keys, min(Nk, that + split_keys)).
SC_FN int sc_attn_split_begin(SC_ARGS_REF(ScMast3rAttentionArgs) a, int split) { return split * a.split_keys; }
SC_FN int sc_attn_split_end(SC_ARGS_REF(ScMast3rAttentionArgs) a, int split) {
  const int begin = split * a.split_keys;
  return a.Nk - begin < a.split_keys ? a.Nk : begin + a.split_keys;
}
// A split's part (splits > 1) of output row `row` (item-major): its row of part_o,
// and its softmax state (running maximum m, sum l) for one head.
SC_FN sc_i64 sc_attn_part_row(SC_ARGS_REF(ScMast3rAttentionArgs) a, int split, sc_i64 row) {
  return (sc_i64)split * a.Nq * a.batch + row;
}
SC_FN void sc_attn_store_state(SC_ARGS_REF(ScMast3rAttentionArgs) a, sc_i64 part_row, sc_i64 head, float m,
                               float l) {
  a.part_ml[(part_row * a.heads + head) * 2] = m;
  a.part_ml[(part_row * a.heads + head) * 2 + 1] = l;
}

// y (rows, cols; stride ldy) = act(t + b) (accumulate 0) or y += t + b
// (accumulate 1); t (rows, cols) contiguous, b (cols,) when has_bias.
// act: 0 none, 1 GELU (exact, erf).
struct ScMast3rBiasActArgs {
  SC_PTR(const float) t;
  SC_PTR(const float) b;
  SC_PTR(float) y;
  sc_i64 rows, cols, ldy;
  sc_i32 has_bias, act, accumulate;
};

// y (channels, P) contiguous = b[channel] (when has_bias; else 0) + res (when
// has_res, contiguous like y): a conv's output before its GEMM accumulates.
struct ScMast3rChannelBiasArgs {
  SC_PTR(const float) b;
  SC_PTR(const float) res;
  SC_PTR(float) y;
  sc_i64 channels, P;
  sc_i32 has_bias, has_res;
};

// DPT output d (4, HW) -> pts3d (HW, 3) (depth mode as kernels/mast3r_post.h)
// and conf (HW) (mode exp, vmin / vmax).
struct ScMast3rDensePostArgs {
  SC_PTR(const float) d;
  SC_PTR(float) pts;
  SC_PTR(float) conf;
  sc_i64 HW;
  sc_i32 mode;
  float cmin, cmax;
};

// Local features feat (h w, F = (D + two) p p) -> desc (H, W, D) unit norm and
// desc_conf (H, W): pixel (Y, X) reads token (Y / p) w + X / p, channel
// c p^2 + (Y % p) p + X % p (pixel shuffle). Without two_confs desc_conf
// copies conf.
struct ScMast3rDescPostArgs {
  SC_PTR(const float) feat;
  SC_PTR(const float) conf;
  SC_PTR(float) desc;
  SC_PTR(float) dconf;
  sc_i64 H, W, F;
  sc_i32 w, p, D, two;
  float cmin, cmax;
};
