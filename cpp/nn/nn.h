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
#include <utility>
#include <vector>

#include "core/tensor.h"

namespace sc {
namespace nn {

enum class Activation { None, Gelu };

// ---- raw routines ----------------------------------------------------------
// y (N, out; row stride ldy) = act(x (N, in; row stride ldx) @ w^T + b);
// w (out, in) row-major, b (out,) or nullptr. With accumulate, y += x w^T + b
// instead (residual connections; act must be None).
//
// The product is split into tiles of output columns (and of rows when there are
// few columns), one single-threaded BLAS call per tile in parallel_for, with the
// bias / GELU applied to each tile while it is in cache. Weights may be float16
// or bfloat16 (linear_any): each task converts its tile of w to float32 in a
// per-thread scratch just before its GEMM, so half weights cost half the memory
// and compute in float32.
void linear_raw(const float* x, int64_t ldx, int64_t N, int64_t in, const float* w,
                const float* b, int64_t out, float* y, int64_t ldy,
                Activation act = Activation::None, bool accumulate = false);
void linear_any(const float* x, int64_t ldx, int64_t N, int64_t in, const void* w, DType wdtype,
                const float* b, int64_t out, float* y, int64_t ldy,
                Activation act = Activation::None, bool accumulate = false);
// n values float16 / bfloat16 / float32 -> float32 (on the calling thread).
void to_float32(const void* src, DType dtype, int64_t n, float* dst);
// A float32 / float16 / bfloat16 tensor as a contiguous tensor of `dtype`
// (float32, float16 or bfloat16; round to nearest even), in parallel; the
// tensor itself when it already is one.
Tensor convert_weight(const Tensor& t, DType dtype);
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
// Gemm: single-threaded BLAS products per (item, head, query block) in
// parallel_for (the default: Auto); Loops: register-tiled loops in parallel_for
// over (item, head, query block).
void attention_raw(const float* q, int64_t ldq, const float* k, int64_t ldk, const float* v,
                   int64_t ldv, float* out, int64_t ldo, int64_t batch, int64_t Nq, int64_t Nk,
                   int64_t heads, int64_t head_dim, AttentionImpl impl = AttentionImpl::Auto);

// ---- convolutions (inference; one image, channels first (C, H, W), float32) ---
// y = act_out(conv(act_in(x), w) + b + residual), then optionally a pointwise
// conv y2 = w2 y + b2 on the same tile (y itself is then not stored).
// w (O, C, k, k); output (O, Ho, Wo), Ho = (H + 2 pad - k) / stride + 1.
// Tiles of output pixels in parallel_for, each an im2col into a per-thread
// scratch (relu_in applied there) and one single-threaded GEMM.
struct Conv2dArgs {
  const float* x = nullptr;
  int64_t C = 0, H = 0, W = 0;
  const float* w = nullptr;  // (O, C, k, k)
  int64_t O = 0, k = 1;
  const float* b = nullptr;  // (O,) or nullptr
  int64_t stride = 1, pad = 0;
  bool relu_in = false, relu_out = false;
  const float* residual = nullptr;  // (O, Ho, Wo), added before relu_out
  const float* w2 = nullptr;        // (O2, O) pointwise conv after, or nullptr
  const float* b2 = nullptr;        // (O2,) or nullptr
  int64_t O2 = 0;
};
int64_t conv_out_size(int64_t in, int64_t k, int64_t stride, int64_t pad);
// y: (O, Ho, Wo), or (O2, Ho, Wo) with w2.
void conv2d_raw(const Conv2dArgs& a, float* y);
// Transposed conv with kernel == stride and no padding (DPT's upsamplers):
// w (C, O, s, s), y (O, s H, s W) = sum_c x[c] w[c] + b.
void conv_transpose2d_k_eq_s_raw(const float* x, int64_t C, int64_t H, int64_t W, const float* w,
                                 int64_t O, int64_t s, const float* b, float* y);
// Bilinear x2 upsampling with align_corners=True (torch's F.interpolate):
// x (C, H, W) -> y (C, 2H, 2W).
void upsample2x_bilinear_raw(const float* x, int64_t C, int64_t H, int64_t W, float* y);

// ---- Tensor wrappers (float32; 2-D (N, C) inputs, any row stride) ---------
// w may be float16 / bfloat16 (converted per tile, as Linear does).
Tensor linear(const Tensor& x, const Tensor& w, const Tensor& b,
              Activation act = Activation::None);
// x (C, H, W) or (1, C, H, W) -> (C, Ho, Wo); w (O, C, k, k); b, residual, w2, b2 optional.
Tensor conv2d(const Tensor& x, const Tensor& w, const Tensor& b, int64_t stride, int64_t pad,
              bool relu_in = false, bool relu_out = false, const Tensor& residual = Tensor(),
              const Tensor& w2 = Tensor(), const Tensor& b2 = Tensor());
Tensor conv_transpose2d_k_eq_s(const Tensor& x, const Tensor& w, const Tensor& b);
Tensor upsample2x_bilinear(const Tensor& x);
Tensor layer_norm(const Tensor& x, const Tensor& w, const Tensor& b, double eps = 1e-6);
Tensor rope2d(const Tensor& x, const Tensor& pos, int64_t heads, double base = 100.0);
// q (batch*Nq, C), k/v (batch*Nk, C) -> (batch*Nq, C).
Tensor attention(const Tensor& q, const Tensor& k, const Tensor& v, int64_t heads,
                 int64_t batch = 1, AttentionImpl impl = AttentionImpl::Auto);
// (y, x) for each token of an h x w patch grid, row-major: (h*w, 2) int64.
Tensor grid_positions(int64_t h, int64_t w);

// ---- profiling (benchmarks) ------------------------------------------------
// While enabled, the raw routines above add their wall time (as seen by the
// thread that calls them, i.e. including their parallel regions) to a total per
// kind: "linear" (GEMM tiles + bias / GELU + half -> float conversion),
// "attention", "layernorm", "rope", "conv", "upsample".
void profile_enable(bool on);
// The totals in ms since the last call (then reset), and the number of calls.
std::vector<std::pair<std::string, std::pair<double, int64_t>>> profile_take();
struct ProfileScope {
  explicit ProfileScope(const char* kind);
  ~ProfileScope();
  const char* kind;
  int64_t t0 = -1;  // ns; -1 when profiling is off
};

// ---- named parameters --------------------------------------------------------
// A dict name -> tensor (a state dict); get() converts to contiguous float32
// and raises ValueError naming the key when it is absent or mis-shaped.
//
// Every name get() / get_weight() / has() finds is recorded (used()), so that a
// model can report the names of a state dict it did not consume. With
// check_only, tensors are returned as given (no conversion or copy: shapes
// are still checked), for validating a state dict of broadcast placeholders
// without allocating it.
class Params {
 public:
  Params() = default;
  explicit Params(std::map<std::string, Tensor> t, bool check_only = false)
      : t_(std::move(t)), check_only_(check_only) {}
  bool has(const std::string& name) const;
  Tensor get(const std::string& name) const;
  Tensor get(const std::string& name, const Shape& shape) const;  // shape checked
  Tensor get_opt(const std::string& name) const;                  // undefined when absent
  // A weight matrix kept in `dtype` (float32 / float16 / bfloat16): converted
  // when it is stored otherwise, a zero-copy view when it already matches.
  Tensor get_weight(const std::string& name, DType dtype) const;
  // Alternative names of one tensor (tied weights saved under either name).
  void alias(const std::string& name, const std::string& other);
  std::vector<std::string> keys_with_prefix(const std::string& prefix) const;
  // Names of the dict not found by any get / has so far (aliases of found names excluded).
  std::vector<std::string> unused() const;
  bool check_only() const { return check_only_; }

 private:
  const Tensor* find(const std::string& name) const;
  std::map<std::string, Tensor> t_;
  std::map<std::string, std::string> alias_;
  mutable std::map<std::string, bool> used_;
  bool check_only_ = false;
};

// ---- modules -------------------------------------------------------------------
struct Linear {
  Tensor w, b;  // (out, in) float32 / float16 / bfloat16, (out,) float32 or undefined
  int64_t in = 0, out = 0;
  Linear() = default;
  // Reads prefix.weight (kept in weight_dtype) and (when bias) prefix.bias;
  // in/out dims checked when >= 0.
  Linear(const Params& p, const std::string& prefix, int64_t in_dim = -1, int64_t out_dim = -1,
         bool bias = true, DType weight_dtype = DType::Float32);
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
  Mlp(const Params& p, const std::string& prefix, int64_t dim, DType weight_dtype = DType::Float32);
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
  SelfAttention(const Params& p, const std::string& prefix, int64_t dim, int64_t heads,
                DType weight_dtype = DType::Float32);
  // y += proj(attn(x)) for `batch` items of N tokens; pos (batch*N, 2).
  void forward_acc(const float* x, int64_t batch, int64_t N, const int64_t* pos,
                   const RopeTable* rope, float* y) const;
};

// Cross-attention with separate q / k / v projections (CroCo's CrossAttention).
struct CrossAttention {
  Linear projq, projk, projv, proj;
  int64_t dim = 0, heads = 0;
  CrossAttention() = default;
  CrossAttention(const Params& p, const std::string& prefix, int64_t dim, int64_t heads,
                 DType weight_dtype = DType::Float32);
  // y += proj(attn(q = x, k = v = mem)); x (Nq, dim) at qpos, mem (Nk, dim) at kpos.
  void forward_acc(const float* x, int64_t Nq, const int64_t* qpos, const float* mem, int64_t Nk,
                   const int64_t* kpos, const RopeTable* rope, float* y) const;
};

}  // namespace nn
}  // namespace sc
