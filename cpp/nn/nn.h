// Inference building blocks of a vision transformer (float32, CPU backend):
// linear, layer norm, MLP, 2-D RoPE and fused multi-head attention with an
// online softmax. No autograd: these work on raw float32 rows and are meant
// for NoGradGuard inference (the MASt3R model, cpp/mast3r/).
//
// Token layout everywhere: a matrix (N, C) row-major, one row per token; a
// multi-head view of it splits C into H heads of D = C / H channels, head h
// being columns [h D, (h + 1) D). Matrices may have a row stride larger than
// their width (q, k, v read in place from one fused qkv matrix).
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "core/tensor.h"

namespace sc {
namespace nn {

enum class Activation { None, Gelu };

// ---- raw routines ----------------------------------------------------------
// y (N, out; row stride ldy) = act(x (N, in; row stride ldx) @ w^T + b);
// w (out, in) row-major, b (out,) or nullptr. With accumulate, y += x w^T + b
// instead (residual connections; act must be None).
void linear_raw(const float* x, int64_t ldx, int64_t N, int64_t in, const float* w,
                const float* b, int64_t out, float* y, int64_t ldy,
                Activation act = Activation::None, bool accumulate = false);
// y = layer_norm(x) per row of n values.
void layer_norm_raw(const float* x, int64_t ldx, int64_t N, int64_t n, const float* w,
                    const float* b, float eps, float* y, int64_t ldy);

// Angle tables of 2-D RoPE for heads of head_dim channels (a multiple of 4)
// and positions 0 .. npos-1: cos/sin (npos, head_dim / 4), as CroCo's RoPE2D.
struct RopeTable {
  int64_t n = 0;     // pairs per 1-D segment = head_dim / 4
  int64_t npos = 0;
  std::vector<float> cos, sin;
};
RopeTable make_rope_table(int64_t head_dim, int64_t npos, float base);
// Rotates the first `heads` heads (head_dim each) of N rows of x in place;
// pos (N, 2) int64 holds (y, x) per row, each in [0, table.npos).
void rope2d_raw(float* x, int64_t ldx, int64_t N, int64_t heads, int64_t head_dim,
                const int64_t* pos, const RopeTable& table);

enum class AttentionImpl { Auto, Loops, Gemm };
// Multi-head attention softmax(q k^T / sqrt(D)) v, fused (online softmax over
// key blocks; memory linear in the token counts), for `batch` independent
// items: item b uses rows [b Nq, (b+1) Nq) of q / out and [b Nk, (b+1) Nk) of
// k / v. q, k, v: row strides ldq, ldk, ldv, heads side by side in the columns
// (heads * head_dim wide); out (batch Nq, heads * head_dim), row stride ldo.
// Loops: tiles in parallel_for over (item, head, query block); Gemm: BLAS
// products per (item, head, key block) from the calling thread; Auto: Gemm on
// one thread or for tiny problems (Nq * Nk <= 4096), Loops otherwise.
void attention_raw(const float* q, int64_t ldq, const float* k, int64_t ldk, const float* v,
                   int64_t ldv, float* out, int64_t ldo, int64_t batch, int64_t Nq, int64_t Nk,
                   int64_t heads, int64_t head_dim, AttentionImpl impl = AttentionImpl::Auto);

// ---- Tensor wrappers (float32; 2-D (N, C) inputs, any row stride) ---------
Tensor linear(const Tensor& x, const Tensor& w, const Tensor& b,
              Activation act = Activation::None);
Tensor layer_norm(const Tensor& x, const Tensor& w, const Tensor& b, double eps = 1e-6);
Tensor rope2d(const Tensor& x, const Tensor& pos, int64_t heads, double base = 100.0);
// q (batch*Nq, C), k/v (batch*Nk, C) -> (batch*Nq, C).
Tensor attention(const Tensor& q, const Tensor& k, const Tensor& v, int64_t heads,
                 int64_t batch = 1, AttentionImpl impl = AttentionImpl::Auto);
// (y, x) for each token of an h x w patch grid, row-major: (h*w, 2) int64.
Tensor grid_positions(int64_t h, int64_t w);

// ---- named parameters --------------------------------------------------------
// A dict name -> tensor (a state dict); get() converts to contiguous float32
// and raises ValueError naming the key when it is absent or mis-shaped.
class Params {
 public:
  Params() = default;
  explicit Params(std::map<std::string, Tensor> t) : t_(std::move(t)) {}
  bool has(const std::string& name) const;
  Tensor get(const std::string& name) const;
  Tensor get(const std::string& name, const Shape& shape) const;  // shape checked
  Tensor get_opt(const std::string& name) const;                  // undefined when absent
  // Alternative names of one tensor (tied weights saved under either name).
  void alias(const std::string& name, const std::string& other);
  std::vector<std::string> keys_with_prefix(const std::string& prefix) const;

 private:
  std::map<std::string, Tensor> t_;
  std::map<std::string, std::string> alias_;
};

// ---- modules -------------------------------------------------------------------
struct Linear {
  Tensor w, b;  // (out, in), (out,) or undefined
  int64_t in = 0, out = 0;
  Linear() = default;
  // Reads prefix.weight and (when bias) prefix.bias; in/out dims checked when >= 0.
  Linear(const Params& p, const std::string& prefix, int64_t in_dim = -1, int64_t out_dim = -1,
         bool bias = true);
  // y (N, out) = act(x w^T + b)
  void forward(const float* x, int64_t ldx, int64_t N, float* y, int64_t ldy,
               Activation act = Activation::None) const;
  // y += x w^T + b
  void forward_acc(const float* x, int64_t ldx, int64_t N, float* y, int64_t ldy) const;
};

struct LayerNorm {
  Tensor w, b;
  int64_t dim = 0;
  float eps = 1e-6f;
  LayerNorm() = default;
  LayerNorm(const Params& p, const std::string& prefix, int64_t dim, float eps = 1e-6f);
  void forward(const float* x, int64_t ldx, int64_t N, float* y, int64_t ldy) const;
};

struct Mlp {
  Linear fc1, fc2;
  Mlp() = default;
  Mlp(const Params& p, const std::string& prefix, int64_t dim);
  // y += fc2(gelu(fc1(x)))  (residual) with a scratch of N x hidden.
  void forward_acc(const float* x, int64_t N, float* y) const;
  // y = fc2(gelu(fc1(x)))
  void forward(const float* x, int64_t N, float* y) const;
};

// Self-attention with a fused qkv projection (CroCo's Attention).
struct SelfAttention {
  Linear qkv, proj;
  int64_t dim = 0, heads = 0;
  SelfAttention() = default;
  SelfAttention(const Params& p, const std::string& prefix, int64_t dim, int64_t heads);
  // y += proj(attn(x)) for `batch` items of N tokens; pos (batch*N, 2).
  void forward_acc(const float* x, int64_t batch, int64_t N, const int64_t* pos,
                   const RopeTable* rope, float* y) const;
};

// Cross-attention with separate q / k / v projections (CroCo's CrossAttention).
struct CrossAttention {
  Linear projq, projk, projv, proj;
  int64_t dim = 0, heads = 0;
  CrossAttention() = default;
  CrossAttention(const Params& p, const std::string& prefix, int64_t dim, int64_t heads);
  // y += proj(attn(q = x, k = v = mem)); x (Nq, dim) at qpos, mem (Nk, dim) at kpos.
  void forward_acc(const float* x, int64_t Nq, const int64_t* qpos, const float* mem, int64_t Nk,
                   const int64_t* kpos, const RopeTable* rope, float* y) const;
};

}  // namespace nn
}  // namespace sc
