// Host side of the MASt3R inference GPU kernels (gpu/kernels/mast3r.h).
#include "gpu/ops/mast3r.h"

#include <algorithm>
#include <cmath>
#include <string>

#include "core/errors.h"
#include "gpu/kernels/mast3r_args.h"
#include "gpu/ops/launch.h"
#include "gpu/runtime.h"
#include "gpu/vendor_gemm.h"

// The kernels' fixed sizes (gpu/kernels/mast3r.h), restated for the host.
#define SC_MAST3R_LN_ROWS 8
#define SC_MAST3R_ATTN_THREADS 128
#define SC_MAST3R_ATTN_SHARED 7168
#define SC_ATTN64_THREADS 128  // gpu/kernels/mast3r_attention64.h
#define SC_ATTN64_BQ 64
#define SC_ATTN64_BK 32
#define SC_ATTN64_MIN_GROUPS 512  // fewer groups than this: the keys are split
#define SC_ATTN64_MAX_SPLITS 4

namespace sc::gpu::mast3r {

namespace {

void check_f32(const Tensor& t, const char* fn, const char* what) {
  if (!t.defined()) throw ValueError(std::string(fn) + ": " + what + " is undefined");
  if (t.dtype() != DType::Float32)
    throw TypeError(std::string(fn) + ": " + what + " must be float32 on the GPU, got " +
                    dtype_name(t.dtype()));
  if (!t.device().is_gpu())
    throw ValueError(std::string(fn) + ": " + what + " must be on a GPU device, got " + t.device().str());
}

// A 2-D view with contiguous columns: its row stride.
int64_t row_stride(const Tensor& t, const char* fn, const char* what) {
  if (t.ndim() != 2) throw ValueError(std::string(fn) + ": " + what + " must be 2-D, got " + shape_str(t.shape()));
  if (t.shape()[1] > 1 && t.strides()[1] != 1)
    throw ValueError(std::string(fn) + ": " + what + " must have contiguous columns");
  return t.shape()[0] > 1 ? t.strides()[0] : t.shape()[1];
}

const Storage* st(const Tensor& t) { return t.defined() ? t.storage().get() : nullptr; }

}  // namespace

void layer_norm(const Tensor& x, const Tensor& w, const Tensor& b, float eps, const Tensor& y) {
  const char* fn = "mast3r layer_norm";
  check_f32(x, fn, "x"), check_f32(w, fn, "weight"), check_f32(b, fn, "bias"), check_f32(y, fn, "y");
  ScMast3rLayerNormArgs a{};
  a.ldx = row_stride(x, fn, "x");
  a.ldy = row_stride(y, fn, "y");
  a.rows = x.shape()[0];
  a.n = (sc_i32)x.shape()[1];
  if (y.shape() != x.shape() || w.numel() != a.n || b.numel() != a.n || !w.is_contiguous() || !b.is_contiguous())
    throw ValueError(std::string(fn) + ": shapes do not match");
  if (a.rows == 0 || a.n == 0) return;
  a.x = gpu_ptr<const float>(x);
  a.w = gpu_ptr<const float>(w);
  a.b = gpu_ptr<const float>(b);
  a.y = gpu_ptr<float>(y);
  a.eps = eps;
  Runtime& rt = runtime(x.device());
  LaunchDims d;
  d.group.x = 32 * SC_MAST3R_LN_ROWS;
  d.grid.x = (uint32_t)((a.rows + SC_MAST3R_LN_ROWS - 1) / SC_MAST3R_LN_ROWS);
  launch(rt, kernel("mast3r_layer_norm"), d, a, {st(x), st(w), st(b), st(y)});
}

void rope2d(const Tensor& x, int64_t heads, int64_t head_dim, const Tensor& pos, const Tensor& cos_t,
            const Tensor& sin_t) {
  const char* fn = "mast3r rope2d";
  check_f32(x, fn, "x"), check_f32(cos_t, fn, "cos"), check_f32(sin_t, fn, "sin");
  if (head_dim <= 0 || head_dim % 4 != 0 || heads <= 0)
    throw ValueError(std::string(fn) + ": head_dim must be a positive multiple of 4");
  ScMast3rRopeArgs a{};
  a.ldx = row_stride(x, fn, "x");
  a.rows = x.shape()[0];
  if (x.shape()[1] < heads * head_dim) throw ValueError(std::string(fn) + ": x is narrower than heads * head_dim");
  if (pos.dtype() != DType::Int32 || pos.ndim() != 2 || pos.shape()[0] != a.rows || pos.shape()[1] != 2 ||
      !pos.is_contiguous() || pos.device() != x.device())
    throw ValueError(std::string(fn) + ": pos must be a contiguous (rows, 2) int32 tensor on x's device");
  a.n = (sc_i32)(head_dim / 4);
  if (cos_t.ndim() != 2 || cos_t.shape()[1] != a.n || sin_t.shape() != cos_t.shape() || !cos_t.is_contiguous() ||
      !sin_t.is_contiguous() || cos_t.shape()[0] <= 0)
    throw ValueError(std::string(fn) + ": the angle tables must be (npos, head_dim / 4)");
  a.npos = (sc_i32)cos_t.shape()[0];
  a.heads = (sc_i32)heads;
  const int64_t n = a.rows * heads * 2 * a.n;
  if (n == 0) return;
  a.x = gpu_ptr<float>(x);
  a.pos = gpu_ptr<const sc_i32>(pos);
  a.cos_t = gpu_ptr<const float>(cos_t);
  a.sin_t = gpu_ptr<const float>(sin_t);
  launch(runtime(x.device()), kernel("mast3r_rope"), groups_for(n), a, {st(x), st(pos), st(cos_t), st(sin_t)});
}

void attention(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& out, int64_t batch,
               int64_t Nq, int64_t Nk, int64_t heads, int64_t D) {
  const char* fn = "mast3r attention";
  check_f32(q, fn, "q"), check_f32(k, fn, "k"), check_f32(v, fn, "v"), check_f32(out, fn, "out");
  if (batch <= 0 || Nq <= 0 || heads <= 0 || D <= 0) return;
  if (Nk <= 0) throw ValueError("attention: no keys (Nk = 0)");
  if (D > 128) throw ValueError(std::string(fn) + ": head dimension " + std::to_string(D) + " > 128 is not supported on GPU devices");
  ScMast3rAttentionArgs a{};
  a.ldq = row_stride(q, fn, "q");
  a.ldk = row_stride(k, fn, "k");
  a.ldv = row_stride(v, fn, "v");
  a.ldo = row_stride(out, fn, "out");
  const int64_t C = heads * D;
  if (q.shape()[0] != batch * Nq || out.shape()[0] != batch * Nq || k.shape()[0] != batch * Nk ||
      v.shape()[0] != batch * Nk || q.shape()[1] < C || k.shape()[1] < C || v.shape()[1] < C || out.shape()[1] < C)
    throw ValueError(std::string(fn) + ": shapes do not match batch / tokens / heads");
  a.Nq = (sc_i32)Nq, a.Nk = (sc_i32)Nk, a.D = (sc_i32)D;
  a.scale = 1.0f / std::sqrt((float)D);
  a.q = gpu_ptr<const float>(q);
  a.k = gpu_ptr<const float>(k);
  a.v = gpu_ptr<const float>(v);
  a.out = gpu_ptr<float>(out);
  LaunchDims d;
  d.grid.y = (uint32_t)heads;
  d.grid.z = (uint32_t)batch;
  if (D == 64) {
    // the register-tiled kernel (gpu/kernels/mast3r_attention64.h), or under a
    // TF32 / bfloat16 matmul precision its TF32 matrix-unit form (same blocks)
    const char* name = matmul_allows_tf32() ? "mast3r_attention64_tc" : "mast3r_attention64";
    const int64_t qblocks = (Nq + SC_ATTN64_BQ - 1) / SC_ATTN64_BQ, kblocks = (Nk + SC_ATTN64_BK - 1) / SC_ATTN64_BK;
    // Split the keys while the groups are few (SC_ATTN64_MIN_GROUPS, about 4 per
    // multiprocessor of a large GPU), each split keeping at least 2 key blocks.
    int64_t splits = (SC_ATTN64_MIN_GROUPS + qblocks * heads * batch - 1) / (qblocks * heads * batch);
    splits = std::max<int64_t>(1, std::min<int64_t>({splits, SC_ATTN64_MAX_SPLITS, kblocks / 2}));
    const int64_t split_blocks = (kblocks + splits - 1) / splits;
    splits = (kblocks + split_blocks - 1) / split_blocks;  // no empty split
    a.splits = (sc_i32)splits;
    a.split_keys = (sc_i32)(split_blocks * SC_ATTN64_BK);
    a.heads = (sc_i32)heads;
    a.batch = (sc_i32)batch;
    Tensor part_o, part_ml;
    if (splits > 1) {
      part_o = Tensor::empty({splits * batch * Nq, heads * 64}, DType::Float32, q.device());
      part_ml = Tensor::empty({splits * batch * Nq, heads, 2}, DType::Float32, q.device());
      a.part_o = gpu_ptr<float>(part_o);
      a.part_ml = gpu_ptr<float>(part_ml);
    } else {
      a.part_o = a.part_ml = gpu_ptr<float>(out);  // never written with one split
    }
    d.group.x = SC_ATTN64_THREADS;
    d.grid.x = (uint32_t)(qblocks * splits);
    Runtime& rt = runtime(q.device());
    launch(rt, kernel(name), d, a, {st(q), st(k), st(v), st(out), st(part_o), st(part_ml)});
    if (splits > 1)
      launch(rt, kernel("mast3r_attention_combine"), groups_for(batch * Nq * heads * 64), a,
             {st(out), st(part_o), st(part_ml)});
    return;
  }
  a.tq = D <= 16 ? 1 : D <= 32 ? 2 : D <= 64 ? 4 : 8;
  a.bq = SC_MAST3R_ATTN_THREADS / a.tq;
  a.bk = D <= 64 ? 32 : 16;
  if (a.bq * D + 2 * a.bk * D + a.bq * a.bk > SC_MAST3R_ATTN_SHARED)
    throw ValueError(std::string(fn) + ": internal error (shared-memory layout)");
  d.group.x = SC_MAST3R_ATTN_THREADS;
  d.grid.x = (uint32_t)((Nq + a.bq - 1) / a.bq);
  launch(runtime(q.device()), kernel("mast3r_attention"), d, a, {st(q), st(k), st(v), st(out)});
}

void bias_act(const Tensor& t, const Tensor& b, const Tensor& y, int act, bool accumulate) {
  const char* fn = "mast3r bias_act";
  check_f32(t, fn, "t"), check_f32(y, fn, "y");
  if (b.defined()) check_f32(b, fn, "bias");
  if (t.ndim() != 2 || !t.is_contiguous()) throw ValueError(std::string(fn) + ": t must be contiguous 2-D");
  ScMast3rBiasActArgs a{};
  a.ldy = row_stride(y, fn, "y");
  a.rows = t.shape()[0];
  a.cols = t.shape()[1];
  if (y.shape() != t.shape() || (b.defined() && (b.numel() != a.cols || !b.is_contiguous())))
    throw ValueError(std::string(fn) + ": shapes do not match");
  if (accumulate && act != 0) throw ValueError(std::string(fn) + ": an activation cannot be combined with accumulate");
  const int64_t n = a.rows * a.cols;
  if (n == 0) return;
  a.t = gpu_ptr<const float>(t);
  a.b = gpu_ptr<const float>(b.defined() ? b : t);  // never read without has_bias
  a.y = gpu_ptr<float>(y);
  a.has_bias = b.defined();
  a.act = act;
  a.accumulate = accumulate;
  launch(runtime(t.device()), kernel("mast3r_bias_act"), groups_for(n), a, {st(t), st(b), st(y)});
}

void channel_bias(const Tensor& y, const Tensor& b, const Tensor& res) {
  const char* fn = "mast3r channel_bias";
  check_f32(y, fn, "y");
  if (b.defined()) check_f32(b, fn, "bias");
  if (res.defined()) check_f32(res, fn, "residual");
  if (!y.is_contiguous() || y.ndim() != 4 || y.shape()[0] != 1)
    throw ValueError(std::string(fn) + ": y must be a contiguous (1, C, H, W) tensor, got " + shape_str(y.shape()));
  ScMast3rChannelBiasArgs a{};
  a.channels = y.shape()[1];
  a.P = y.shape()[2] * y.shape()[3];
  if ((b.defined() && (!b.is_contiguous() || b.numel() != a.channels)) ||
      (res.defined() && (!res.is_contiguous() || res.shape() != y.shape())))
    throw ValueError(std::string(fn) + ": the bias or the residual does not match y " + shape_str(y.shape()));
  if (y.numel() == 0) return;
  a.b = gpu_ptr<const float>(b.defined() ? b : y);  // never read without has_bias / has_res
  a.res = gpu_ptr<const float>(res.defined() ? res : y);
  a.y = gpu_ptr<float>(y);
  a.has_bias = b.defined();
  a.has_res = res.defined();
  launch(runtime(y.device()), kernel("mast3r_channel_bias"), groups_for(y.numel()), a, {st(y), st(b), st(res)});
}

void dense_post(const Tensor& d, const Tensor& pts, const Tensor& conf, int mode, float cmin, float cmax) {
  const char* fn = "mast3r dense_post";
  check_f32(d, fn, "d"), check_f32(pts, fn, "pts3d"), check_f32(conf, fn, "conf");
  ScMast3rDensePostArgs a{};
  a.HW = conf.numel();
  if (!d.is_contiguous() || !pts.is_contiguous() || !conf.is_contiguous() || d.numel() != 4 * a.HW ||
      pts.numel() != 3 * a.HW)
    throw ValueError(std::string(fn) + ": shapes do not match");
  if (a.HW == 0) return;
  a.d = gpu_ptr<const float>(d);
  a.pts = gpu_ptr<float>(pts);
  a.conf = gpu_ptr<float>(conf);
  a.mode = mode;
  a.cmin = cmin;
  a.cmax = cmax;
  launch(runtime(d.device()), kernel("mast3r_dense_post"), groups_for(a.HW), a, {st(d), st(pts), st(conf)});
}

void desc_post(const Tensor& feat, const Tensor& conf, const Tensor& desc, const Tensor& dconf, int64_t w,
               int64_t p, int64_t D, bool two, float cmin, float cmax) {
  const char* fn = "mast3r desc_post";
  check_f32(feat, fn, "feat"), check_f32(conf, fn, "conf"), check_f32(desc, fn, "desc"), check_f32(dconf, fn, "desc_conf");
  ScMast3rDescPostArgs a{};
  if (desc.ndim() != 3 || !feat.is_contiguous() || !conf.is_contiguous() || !desc.is_contiguous() ||
      !dconf.is_contiguous() || feat.ndim() != 2)
    throw ValueError(std::string(fn) + ": bad layouts");
  a.H = desc.shape()[0];
  a.W = desc.shape()[1];
  a.F = feat.shape()[1];
  if (desc.shape()[2] != D || dconf.numel() != a.H * a.W || conf.numel() != a.H * a.W || a.H % p || a.W % p ||
      a.W / p != w || feat.shape()[0] != (a.H / p) * w || a.F != (D + (two ? 1 : 0)) * p * p)
    throw ValueError(std::string(fn) + ": shapes do not match");
  if (a.H * a.W == 0) return;
  a.feat = gpu_ptr<const float>(feat);
  a.conf = gpu_ptr<const float>(conf);
  a.desc = gpu_ptr<float>(desc);
  a.dconf = gpu_ptr<float>(dconf);
  a.w = (sc_i32)w, a.p = (sc_i32)p, a.D = (sc_i32)D, a.two = two;
  a.cmin = cmin;
  a.cmax = cmax;
  launch(runtime(feat.device()), kernel("mast3r_desc_post"), groups_for(a.H * a.W), a,
         {st(feat), st(conf), st(desc), st(dconf)});
}

}  // namespace sc::gpu::mast3r
