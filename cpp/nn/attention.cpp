// 2-D RoPE and fused multi-head attention (nn/nn.h).
//
// Two CPU schedules of the same online-softmax algorithm (kernels/attention.h):
//   Gemm:  parallel_for over (item, head, block of BQG queries); per block of up
//          to BKG keys, S = Q K^T and O += P V as two single-threaded BLAS calls
//          (gemm_serial) with the softmax update between them (the default);
//   Loops: parallel_for over (item, head, query block of BQ rows); per key
//          block of BK keys, S = Q K^T and O += P V by register-tiled loops
//          over K^T and V packed per head (zero-padded to whole blocks).
// Both keep at most one block of scores per query row.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "core/thread_pool.h"
#include "gpu/ops/mast3r.h"
#include "kernels/attention.h"
#include "kernels/rope.h"
#include "nn/nn.h"
#include "ops/blas.h"

namespace sc {
namespace nn {

// ---- RoPE -------------------------------------------------------------------------

RopeTable make_rope_table(int64_t head_dim, int64_t npos, float base) {
  if (head_dim <= 0 || head_dim % 4 != 0)
    throw ValueError("rope2d: the head dimension must be a positive multiple of 4, got " +
                     std::to_string(head_dim));
  RopeTable t;
  t.n = head_dim / 4;
  t.npos = std::max<int64_t>(npos, 0);
  t.cos.resize((size_t)(t.npos * t.n));
  t.sin.resize((size_t)(t.npos * t.n));
  for (int64_t i = 0; i < t.n; ++i) {
    const float inv = sc_rope_inv_freq(base, (int)i, (int)t.n);
    for (int64_t p = 0; p < t.npos; ++p) {
      const float ang = (float)p * inv;  // float32 product, as CroCo's table
      t.cos[(size_t)(p * t.n + i)] = (float)std::cos((double)ang);
      t.sin[(size_t)(p * t.n + i)] = (float)std::sin((double)ang);
    }
  }
  return t;
}

void rope2d_raw(float* x, int64_t ldx, int64_t N, int64_t heads, int64_t head_dim,
                const int64_t* pos, const RopeTable& table) {
  ProfileScope prof("rope");
  if (head_dim != 4 * table.n)
    throw ValueError("rope2d: table built for head_dim " + std::to_string(4 * table.n) +
                     ", got " + std::to_string(head_dim));
  for (int64_t r = 0; r < N; ++r)
    for (int a = 0; a < 2; ++a)
      if (pos[2 * r + a] < 0 || pos[2 * r + a] >= table.npos)
        throw ValueError("rope2d: position " + std::to_string(pos[2 * r + a]) + " of token " +
                         std::to_string(r) + " is outside [0, " + std::to_string(table.npos) + ")");
  const int n = (int)table.n;
  const float* cs = table.cos.data();
  const float* sn = table.sin.data();
  parallel_for(N, std::max<int64_t>(1, 4096 / std::max<int64_t>(heads * head_dim, 1)),
               [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const int64_t py = pos[2 * r], px = pos[2 * r + 1];
      float* xr = x + r * ldx;
      for (int64_t h = 0; h < heads; ++h)
        sc_rope2d_head(xr + h * head_dim, n, cs + py * n, sn + py * n, cs + px * n, sn + px * n);
    }
  });
}

// ---- attention: register-tiled loops -------------------------------------------------

namespace {

// Tile sizes measured on ViT-L shapes (768 tokens, head dim 64) on AMD Zen 4:
// BQ 32 / BK 64 / 4 x 32 register tiles beat 16..128 / 32..128 / 8 x 16, 8 x 32, 4 x 64.
constexpr int BQ = 32;   // query rows per task
constexpr int BK = 64;   // keys per block
constexpr int MR = 4;    // register tile rows
constexpr int NR = 32;   // register tile columns (a multiple of the SIMD width)

static_assert(BQ % MR == 0 && BK % NR == 0, "tiles must divide the blocks");

int64_t round_up(int64_t a, int64_t b) { return (a + b - 1) / b * b; }

// C[MR][NR] (+)= A[MR][K] B[K][NR]; A row stride lda, B row stride ldb, C ldc.
template <bool ACC>
inline void micro_tile(int64_t K, const float* A, int64_t lda, const float* B, int64_t ldb,
                       float* C, int64_t ldc) {
  float c[MR][NR];
  for (int i = 0; i < MR; ++i)
    for (int j = 0; j < NR; ++j) c[i][j] = ACC ? C[i * ldc + j] : 0.0f;
  for (int64_t k = 0; k < K; ++k) {
    const float* b = B + k * ldb;
    for (int i = 0; i < MR; ++i) {
      const float a = A[i * lda + k];
      for (int j = 0; j < NR; ++j) c[i][j] += a * b[j];
    }
  }
  for (int i = 0; i < MR; ++i)
    for (int j = 0; j < NR; ++j) C[i * ldc + j] = c[i][j];
}

// C (M x N) (+)= A (M x K) B (K x N); M a multiple of MR, N of NR.
template <bool ACC>
void tile_mm(int64_t M, int64_t N, int64_t K, const float* A, int64_t lda, const float* B,
             int64_t ldb, float* C, int64_t ldc) {
  for (int64_t i = 0; i < M; i += MR)
    for (int64_t j = 0; j < N; j += NR)
      micro_tile<ACC>(K, A + i * lda, lda, B + j, ldb, C + i * ldc + j, ldc);
}

void attention_loops(const float* q, int64_t ldq, const float* k, int64_t ldk, const float* v,
                     int64_t ldv, float* out, int64_t ldo, int64_t batch, int64_t Nq, int64_t Nk,
                     int64_t heads, int64_t D) {
  const int64_t Nkp = round_up(Nk, BK);  // keys padded to whole blocks
  const int64_t Dp = round_up(D, NR);    // V / O columns padded to whole tiles
  const int64_t nbh = batch * heads;
  // Pack K^T (D x Nkp) and V (Nkp x Dp) per (item, head), zero-padded.
  Tensor kt_t = Tensor::empty({nbh, D, Nkp}), vp_t = Tensor::empty({nbh, Nkp, Dp});
  float* kt = kt_t.data<float>();
  float* vp = vp_t.data<float>();
  parallel_for(nbh, 1, [&](int64_t t0, int64_t t1) {
    for (int64_t t = t0; t < t1; ++t) {
      const int64_t b = t / heads, h = t % heads;
      float* ktt = kt + t * D * Nkp;
      float* vpt = vp + t * Nkp * Dp;
      for (int64_t j = 0; j < Nkp; ++j) {
        const bool valid = j < Nk;
        const float* kr = k + (b * Nk + j) * ldk + h * D;
        const float* vr = v + (b * Nk + j) * ldv + h * D;
        for (int64_t d = 0; d < D; ++d) ktt[d * Nkp + j] = valid ? kr[d] : 0.0f;
        float* vo = vpt + j * Dp;
        for (int64_t d = 0; d < Dp; ++d) vo[d] = valid && d < D ? vr[d] : 0.0f;
      }
    }
  });

  const float scale = 1.0f / std::sqrt((float)D);
  const int64_t nqb = (Nq + BQ - 1) / BQ, nkb = Nkp / BK;
  parallel_for(nbh * nqb, 1, [&](int64_t t0, int64_t t1) {
    std::vector<float> qs((size_t)(BQ * D)), s((size_t)(BQ * BK)), o((size_t)(BQ * Dp)),
        st((size_t)(2 * BQ));
    for (int64_t t = t0; t < t1; ++t) {
      const int64_t bh = t / nqb, qb = t % nqb, b = bh / heads, h = bh % heads;
      const int64_t i0 = qb * BQ, nq = std::min<int64_t>(BQ, Nq - i0);
      for (int64_t i = 0; i < BQ; ++i) {
        const float* qr = q + (b * Nq + i0 + i) * ldq + h * D;
        for (int64_t d = 0; d < D; ++d) qs[i * D + d] = i < nq ? qr[d] * scale : 0.0f;
        sc_attn_state_init(&st[2 * i]);
      }
      std::fill(o.begin(), o.end(), 0.0f);
      const float* ktt = kt + bh * D * Nkp;
      const float* vpt = vp + bh * Nkp * Dp;
      for (int64_t kb = 0; kb < nkb; ++kb) {
        const int64_t j0 = kb * BK;
        const int nvalid = (int)std::min<int64_t>(BK, Nk - j0);
        tile_mm<false>(BQ, BK, D, qs.data(), D, ktt + j0, Nkp, s.data(), BK);
        for (int64_t i = 0; i < nq; ++i) {
          const float alpha = sc_attn_block_update(&s[i * BK], nvalid, BK, &st[2 * i]);
          if (kb > 0) sc_attn_rescale(&o[i * Dp], (int)Dp, alpha);
        }
        tile_mm<true>(BQ, Dp, BK, s.data(), BK, vpt + j0 * Dp, Dp, o.data(), Dp);
      }
      for (int64_t i = 0; i < nq; ++i)
        sc_attn_finish(&o[i * Dp], (int)D, &st[2 * i], out + (b * Nq + i0 + i) * ldo + h * D);
    }
  });
}

// ---- attention: single-threaded BLAS per (item, head, query block) -----------------
//
// Tasks (item, head, block of BQG queries) in parallel_for; each runs its own
// products with gemm_serial: S = (q k^T) / sqrt(D) for a block of up to BKG keys,
// the online-softmax update of kernels/attention.h, O += P v, and finally
// out = O / l. Scratch per thread: BQG x (BKG + D) floats.

constexpr int BQG = 768;   // queries per task
constexpr int BKG = 1024;  // keys per block

// max(start, s[0 .. n)) with SIMD (GCC / Clang vector extensions; compilers
// leave the kernel's lane loop scalar): NaN scores are ignored here and then
// propagate through exp in the update, as with the kernel's own maximum.
float row_max(const float* s, int64_t n, float start) {
#if defined(__GNUC__) || defined(__clang__)
  typedef float v16 __attribute__((vector_size(64)));
  v16 m = v16{} + start;
  int64_t j = 0;
  for (; j + 16 <= n; j += 16) {
    v16 v;
    std::memcpy(&v, s + j, sizeof(v));
    m = v > m ? v : m;
  }
  float r = start;
  for (int k = 0; k < 16; ++k) r = m[k] > r ? m[k] : r;
  for (; j < n; ++j) r = s[j] > r ? s[j] : r;
  return r;
#else
  return sc_attn_block_max(s, (int)n, start);
#endif
}

void attention_gemm(const float* q, int64_t ldq, const float* k, int64_t ldk, const float* v,
                    int64_t ldv, float* out, int64_t ldo, int64_t batch, int64_t Nq, int64_t Nk,
                    int64_t heads, int64_t D) {
  SerialBlasScope serial;
  const float scale = 1.0f / std::sqrt((float)D);
  const int64_t bk = std::min<int64_t>(BKG, Nk);
  const int64_t nqb = (Nq + BQG - 1) / BQG;
  parallel_for(batch * heads * nqb, 1, [&](int64_t t0, int64_t t1) {
    thread_local std::vector<float> scratch;
    const size_t need = (size_t)(BQG * (bk + D + 2));
    if (scratch.size() < need) scratch.resize(need);
    float* s = scratch.data();
    float* o = s + BQG * bk;
    float* st = o + BQG * D;
    for (int64_t t = t0; t < t1; ++t) {
      const int64_t qb = t % nqb, bh = t / nqb, b = bh / heads, h = bh % heads;
      const int64_t i0 = qb * BQG, nq = std::min<int64_t>(BQG, Nq - i0);
      const float* qh = q + (b * Nq + i0) * ldq + h * D;
      const float* kh = k + b * Nk * ldk + h * D;
      const float* vh = v + b * Nk * ldv + h * D;
      for (int64_t i = 0; i < nq; ++i) sc_attn_state_init(st + 2 * i);
      for (int64_t j0 = 0; j0 < Nk; j0 += bk) {
        const int64_t nk = std::min<int64_t>(bk, Nk - j0);
        gemm_serial(false, true, nq, nk, D, scale, qh, ldq, kh + j0 * ldk, ldk, 0.0f, s, nk);
        for (int64_t i = 0; i < nq; ++i) {
          float* si = s + i * nk;
          const float alpha = sc_attn_block_update_m(si, (int)nk, (int)nk, st + 2 * i,
                                                     row_max(si, nk, st[2 * i]));
          if (j0 > 0) sc_attn_rescale(o + i * D, (int)D, alpha);
        }
        gemm_serial(false, false, nq, D, nk, 1.0f, s, nk, vh + j0 * ldv, ldv, j0 > 0 ? 1.0f : 0.0f,
                    o, D);
      }
      for (int64_t i = 0; i < nq; ++i)
        sc_attn_finish(o + i * D, (int)D, st + 2 * i, out + (b * Nq + i0 + i) * ldo + h * D);
    }
  });
}

}  // namespace

void attention_raw(const float* q, int64_t ldq, const float* k, int64_t ldk, const float* v,
                   int64_t ldv, float* out, int64_t ldo, int64_t batch, int64_t Nq, int64_t Nk,
                   int64_t heads, int64_t head_dim, AttentionImpl impl) {
  if (batch <= 0 || Nq <= 0 || heads <= 0 || head_dim <= 0) return;
  if (Nk <= 0) throw ValueError("attention: no keys (Nk = 0)");
  ProfileScope prof("attention");
  if (impl == AttentionImpl::Auto) {
    // Measured on ViT-L shapes at 512 x 384 (768 tokens, head dim 64; 2-core AMD
    // EPYC, CPU time): the per-head single-threaded BLAS schedule reaches ~62 GFLOP
    // per core-second (encoder 2 x 16 heads, decoder 12 heads), the register-tiled
    // loops ~54; on the golden model's 24 tokens the loops' padding to whole blocks
    // dominates. Gemm everywhere.
    impl = AttentionImpl::Gemm;
  }
  if (impl == AttentionImpl::Gemm)
    attention_gemm(q, ldq, k, ldk, v, ldv, out, ldo, batch, Nq, Nk, heads, head_dim);
  else
    attention_loops(q, ldq, k, ldk, v, ldv, out, ldo, batch, Nq, Nk, heads, head_dim);
}

// ---- Tensor wrappers ---------------------------------------------------------------------

namespace {

Tensor rows_f32(const Tensor& t, const char* arg) {
  if (!t.defined()) throw ValueError(std::string("attention: ") + arg + " is undefined");
  if (t.ndim() != 2)
    throw ValueError(std::string("attention: ") + arg +
                     " must be 2-D (tokens, channels), got shape " + shape_str(t.shape()));
  Tensor f = t.detach().to(DType::Float32);
  if ((f.shape()[1] > 1 && f.strides()[1] != 1) || (f.shape()[0] > 1 && f.strides()[0] < f.shape()[1]))
    f = f.contiguous();
  return f;
}
int64_t ld_of(const Tensor& t) { return t.shape()[0] > 1 ? t.strides()[0] : t.shape()[1]; }

}  // namespace

Tensor rope2d(const Tensor& x, const Tensor& pos, int64_t heads, double base) {
  if (!x.defined() || x.ndim() != 2)
    throw ValueError("rope2d: x must be 2-D (tokens, heads * head_dim)");
  const int64_t N = x.shape()[0], C = x.shape()[1];
  if (heads <= 0 || C % heads != 0)
    throw ValueError("rope2d: " + std::to_string(C) + " channels do not split into " +
                     std::to_string(heads) + " heads");
  if (!pos.defined() || pos.ndim() != 2 || pos.shape()[0] != N || pos.shape()[1] != 2)
    throw ValueError("rope2d: pos must have shape (" + std::to_string(N) + ", 2), got " +
                     (pos.defined() ? shape_str(pos.shape()) : std::string("undefined")));
  const Device dev = x.device();
  if (dev.is_gpu() && pos.device() != dev && pos.device().is_gpu())
    throw ValueError("rope2d: pos is on " + pos.device().str() + ", x on " + dev.str());
  Tensor y = x.detach().to(DType::Float32).clone();
  // positions are read on the host (the angle table's size; a device pos is copied back)
  Tensor p = pos.detach().to_device(Device{}).to(DType::Int64).contiguous();
  const int64_t* pd = p.data<int64_t>();
  int64_t mx = 0;
  for (int64_t i = 0; i < 2 * N; ++i) mx = std::max(mx, pd[i]);
  RopeTable table = make_rope_table(C / heads, mx + 1, (float)base);
  if (dev.is_gpu()) {  // gpu/kernels/mast3r.h
    for (int64_t i = 0; i < 2 * N; ++i)
      if (pd[i] < 0)
        throw ValueError("rope2d: position " + std::to_string(pd[i]) + " of token " + std::to_string(i / 2) +
                         " is outside [0, " + std::to_string(table.npos) + ")");
    Tensor cs = Tensor::empty({table.npos, table.n}), sn = Tensor::empty({table.npos, table.n});
    std::copy(table.cos.begin(), table.cos.end(), cs.data<float>());
    std::copy(table.sin.begin(), table.sin.end(), sn.data<float>());
    gpu::mast3r::rope2d(y, heads, C / heads, p.to(DType::Int32).to_device(dev), cs.to_device(dev),
                        sn.to_device(dev));
    return y;
  }
  rope2d_raw(y.data<float>(), C, N, heads, C / heads, pd, table);
  return y;
}

Tensor attention(const Tensor& q, const Tensor& k, const Tensor& v, int64_t heads, int64_t batch,
                 AttentionImpl impl) {
  Tensor Q = rows_f32(q, "q"), K = rows_f32(k, "k"), V = rows_f32(v, "v");
  const int64_t C = Q.shape()[1];
  if (K.shape()[1] != C || V.shape()[1] != C)
    throw ValueError("attention: q, k, v must have the same number of channels, got " +
                     shape_str(q.shape()) + ", " + shape_str(k.shape()) + ", " + shape_str(v.shape()));
  if (K.shape()[0] != V.shape()[0])
    throw ValueError("attention: k and v must have the same number of tokens, got " +
                     shape_str(k.shape()) + " and " + shape_str(v.shape()));
  if (heads <= 0 || C % heads != 0)
    throw ValueError("attention: " + std::to_string(C) + " channels do not split into " +
                     std::to_string(heads) + " heads");
  if (batch <= 0 || Q.shape()[0] % batch != 0 || K.shape()[0] % batch != 0)
    throw ValueError("attention: token counts " + std::to_string(Q.shape()[0]) + " and " +
                     std::to_string(K.shape()[0]) + " are not multiples of batch " +
                     std::to_string(batch));
  const int64_t Nq = Q.shape()[0] / batch, Nk = K.shape()[0] / batch;
  if (Q.device().is_gpu() || K.device().is_gpu() || V.device().is_gpu()) {  // gpu/kernels/mast3r.h
    if (K.device() != Q.device() || V.device() != Q.device())
      throw ValueError("attention: q, k, v must be on one device, got " + Q.device().str() + ", " +
                       K.device().str() + ", " + V.device().str());
    Tensor out = Tensor::empty({batch * Nq, C}, DType::Float32, Q.device());
    gpu::mast3r::attention(Q, K, V, out, batch, Nq, Nk, heads, C / heads);
    return out;
  }
  Tensor out = Tensor::empty({batch * Nq, C});
  attention_raw(Q.data<float>(), ld_of(Q), K.data<float>(), ld_of(K), V.data<float>(), ld_of(V),
                out.data<float>(), C, batch, Nq, Nk, heads, C / heads, impl);
  return out;
}

// ---- modules -------------------------------------------------------------------------------

SelfAttention::SelfAttention(const Params& p, const std::string& prefix, int64_t d, int64_t h,
                             DType wdt)
    : dim(d), heads(h) {
  if (h <= 0 || d % h != 0)
    throw ValueError("attention '" + prefix + "': dim " + std::to_string(d) +
                     " does not split into " + std::to_string(h) + " heads");
  qkv = Linear(p, prefix + ".qkv", d, 3 * d, true, wdt);
  proj = Linear(p, prefix + ".proj", d, d, true, wdt);
}

void SelfAttention::forward_acc(const float* x, int64_t batch, int64_t N, const int64_t* pos,
                                const RopeTable* rope, float* y) const {
  const int64_t BN = batch * N, D = dim / heads;
  Tensor qkv_t = Tensor::empty({BN, 3 * dim}), a_t = Tensor::empty({BN, dim});
  float* t = qkv_t.data<float>();
  qkv.forward(x, dim, BN, t, 3 * dim);
  if (rope) {
    rope2d_raw(t, 3 * dim, BN, heads, D, pos, *rope);        // q
    rope2d_raw(t + dim, 3 * dim, BN, heads, D, pos, *rope);  // k
  }
  attention_raw(t, 3 * dim, t + dim, 3 * dim, t + 2 * dim, 3 * dim, a_t.data<float>(), dim, batch,
                N, N, heads, D);
  proj.forward_acc(a_t.data<float>(), dim, BN, y, dim);
}

CrossAttention::CrossAttention(const Params& p, const std::string& prefix, int64_t d, int64_t h,
                               DType wdt)
    : dim(d), heads(h) {
  if (h <= 0 || d % h != 0)
    throw ValueError("attention '" + prefix + "': dim " + std::to_string(d) +
                     " does not split into " + std::to_string(h) + " heads");
  projq = Linear(p, prefix + ".projq", d, d, true, wdt);
  projk = Linear(p, prefix + ".projk", d, d, true, wdt);
  projv = Linear(p, prefix + ".projv", d, d, true, wdt);
  proj = Linear(p, prefix + ".proj", d, d, true, wdt);
}

void CrossAttention::forward_acc(const float* x, int64_t Nq, const int64_t* qpos, const float* mem,
                                 int64_t Nk, const int64_t* kpos, const RopeTable* rope,
                                 float* y) const {
  const int64_t D = dim / heads;
  Tensor q_t = Tensor::empty({Nq, dim}), kv_t = Tensor::empty({Nk, 2 * dim}),
         a_t = Tensor::empty({Nq, dim});
  float* qd = q_t.data<float>();
  float* kv = kv_t.data<float>();
  projq.forward(x, dim, Nq, qd, dim);
  projk.forward(mem, dim, Nk, kv, 2 * dim);
  projv.forward(mem, dim, Nk, kv + dim, 2 * dim);
  if (rope) {
    rope2d_raw(qd, dim, Nq, heads, D, qpos, *rope);
    rope2d_raw(kv, 2 * dim, Nk, heads, D, kpos, *rope);
  }
  attention_raw(qd, dim, kv, 2 * dim, kv + dim, 2 * dim, a_t.data<float>(), dim, 1, Nq, Nk, heads, D);
  proj.forward_acc(a_t.data<float>(), dim, Nq, y, dim);
}

}  // namespace nn
}  // namespace sc
