// MASt3R inference (Leroy et al. 2024, "Grounding Image Matching in 3D with
// MASt3R"; the AsymmetricMASt3R network of naver/mast3r on DUSt3R / CroCo v2),
// float32 on the CPU backend or on a GPU device (gpu_forward.cpp), no autograd.
//
//   images (H, W, 3) in [-1, 1]
//     -> PatchEmbedDust3R (p x p conv, stride p; token (y, x) positions, no
//        absolute position embedding)
//     -> enc_blocks (pre-norm ViT blocks with 2-D RoPE) -> enc_norm
//     -> decoder_embed -> two decoder stacks run side by side (dec_blocks for
//        view 1, dec_blocks2 for view 2): self-attention, cross-attention to the
//        other view's previous-layer tokens, MLP -> dec_norm on the last layer
//     -> per view: DPT head (pts3d + conf) on [encoder, decoder L/2, 3L/4, L]
//        and the local-feature MLP on concat(encoder, last decoder) tokens
//        (desc + desc_conf), pixel-shuffled to full resolution.
//
// Every width and depth is read from the weights (official AsymmetricMASt3R
// state-dict names); head counts come from the config (default dim / 64).
//
// Execution: every product is a single-threaded BLAS call on a tile (columns of
// a Linear, a head of attention, pixels of a conv) run in parallel by the pool
// (nn/, gemm_serial under a SerialBlasScope), with the element-wise work (bias,
// GELU, residual, ReLU, half -> float conversion of the weight tile) done on the
// tile while it is in cache. The Linear weights may stay float16 / bfloat16
// (Mast3rConfig::weight_dtype).
#pragma once
#include <cstdint>
#include <limits>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "core/tensor.h"
#include "nn/nn.h"

namespace sc {
namespace mast3r {

// A (mode, vmin, vmax) triple of DUSt3R's postprocess.
struct RegMode {
  std::string mode = "exp";
  double vmin = -std::numeric_limits<double>::infinity();
  double vmax = std::numeric_limits<double>::infinity();
};

struct Mast3rConfig {
  int64_t enc_num_heads = 0;  // 0: enc_embed_dim / 64
  int64_t dec_num_heads = 0;  // 0: dec_embed_dim / 64
  double rope_base = 100.0;   // "RoPE100"
  RegMode depth_mode{"exp"};                                                  // pts3d
  RegMode conf_mode{"exp", 1.0, std::numeric_limits<double>::infinity()};     // conf
  RegMode desc_conf_mode{"exp", 0.0, std::numeric_limits<double>::infinity()};// desc_conf
  std::string desc_mode = "norm";
  int64_t desc_dim = 0;   // 0: from the local-feature head's width (two_confs assumed)
  bool two_confs = true;  // the head predicts its own desc_conf channel
  double ln_eps = 1e-6;
  // Dtype in which the Linear weights (every block's qkv / proj / MLP, the
  // decoder embedding, the local-feature MLPs: ~98% of the parameters) are kept:
  // float32, float16 or bfloat16 (computed in float32, converted per GEMM tile).
  // Norms, biases, the patch embedding and the DPT convs stay float32.
  DType weight_dtype = DType::Float32;
  // Raise on state-dict names the model does not use (mask_token excepted).
  bool strict = true;
  // Check names and shapes only: tensors are kept as given (broadcast
  // placeholders allowed, nothing converted or copied); forward() refuses to run.
  bool check_only = false;
};

struct ViewOutput {
  Tensor pts3d;      // (H, W, 3); view 2's in view 1's frame
  Tensor conf;       // (H, W)
  Tensor desc;       // (H, W, desc_dim), unit norm per pixel
  Tensor desc_conf;  // (H, W)
  Tensor enc;        // (N, enc_dim) encoder output (after enc_norm), when asked for
  Tensor dec_last;   // (N, dec_dim) last decoder output (after dec_norm), when asked for
};

struct PairOutput {
  ViewOutput view1, view2;
  // Wall time of each stage in ms: "encoder", "decoder", "head1", "head2", "total".
  std::vector<std::pair<std::string, double>> timings_ms;
};

struct EncoderBlock;
struct DecoderBlock;
struct DptHead;
struct LocalFeatureHead;

class Mast3rModel {
 public:
  // weights: a state dict (official names; the tied DPT names
  // dpt.scratch.layer{i}_rn / layer_rn.{i-1} may appear either way or both).
  // Raises ValueError naming the first missing or mis-shaped tensor.
  Mast3rModel(const std::map<std::string, Tensor>& weights, const Mast3rConfig& config = {});
  ~Mast3rModel();
  Mast3rModel(const Mast3rModel&) = delete;
  Mast3rModel& operator=(const Mast3rModel&) = delete;

  // img1, img2: (H, W, 3) float images normalised to [-1, 1], H and W multiples
  // of the patch size (the two may differ in size). Runs under NoGradGuard.
  PairOutput forward(const Tensor& img1, const Tensor& img2, bool intermediates = false) const;

  // The two halves of forward(), so that an image seen in several pairs is
  // encoded once. encode: images of one size (H, W, 3) -> (B * h * w, enc_dim)
  // encoder outputs (after enc_norm), image b in rows [b h w, (b + 1) h w).
  // decode: the decoders and heads of one pair from its encoder outputs
  // ((h * w, enc_dim) each, h x w patches), as forward() runs them.
  Tensor encode(const std::vector<Tensor>& imgs) const;
  PairOutput decode(const Tensor& enc1, int64_t h1, int64_t w1, const Tensor& enc2, int64_t h2,
                    int64_t w2, bool intermediates = false) const;
  // decode of several pairs of one shape (enc1[b], enc2[b]: pair b). On a GPU
  // device the decoders run on all of them at once (batched GEMMs and
  // attention), the heads pair by pair; on the CPU it is decode() per pair.
  std::vector<PairOutput> decode_batch(const std::vector<Tensor>& enc1, int64_t h1, int64_t w1,
                                       const std::vector<Tensor>& enc2, int64_t h2, int64_t w2,
                                       bool intermediates = false, bool keep_on_device = false) const;

  // The same on a GPU device (device.is_gpu(): "sim", "cuda", "metal"): the
  // whole network runs there (gpu_forward.cpp). The weights are uploaded on the
  // first call for a device and stay resident (Linear weights in weight_dtype,
  // transposed once to (in, out) and converted to float32 per GEMM on the
  // device; the rest float32). Outputs come back to the host as forward()'s, or
  // with keep_on_device stay on the device (no copies, no wait for the queue).
  // encode(imgs, device) returns the encoder outputs on the device; decode()
  // runs on the device of its encoder outputs when that is a GPU.
  PairOutput forward(const Tensor& img1, const Tensor& img2, bool intermediates, Device device,
                     bool keep_on_device = false) const;
  Tensor encode(const std::vector<Tensor>& imgs, Device device) const;
  // The GPU devices holding this model's weights (in the order of first use).
  std::vector<Device> resident_devices() const;

  // State-dict names the model did not use (empty unless strict is off).
  const std::vector<std::string>& unused_weights() const { return unused_; }

  int64_t patch_size() const { return patch_; }
  int64_t enc_embed_dim() const { return enc_dim_; }
  int64_t dec_embed_dim() const { return dec_dim_; }
  int64_t enc_depth() const { return (int64_t)enc_blocks_.size(); }
  int64_t dec_depth() const { return (int64_t)dec_blocks1_.size(); }
  int64_t enc_num_heads() const { return enc_heads_; }
  int64_t dec_num_heads() const { return dec_heads_; }
  int64_t desc_dim() const { return desc_dim_; }
  std::vector<int64_t> hooks() const { return hooks_; }
  const Mast3rConfig& config() const { return cfg_; }

 private:
  // (B*N, enc_dim) tokens of B images of one shape -> encoder output in place.
  void encode_into(const std::vector<Tensor>& imgs, int64_t h, int64_t w, const int64_t* pos,
                   const nn::RopeTable& rope, float* x) const;
  PairOutput decode_impl(const Tensor* enc, const int64_t* h, const int64_t* w,
                         bool intermediates, std::vector<std::pair<std::string, double>> timings) const;
  ViewOutput run_head(int which, const std::vector<const float*>& hook_tokens, int64_t h,
                      int64_t w, const float* enc, const float* dec_last) const;
  void check_runnable() const;
  // GPU execution (gpu_forward.cpp): the resident weights of one device.
  struct GpuModel;
  const GpuModel& gpu_model(Device d) const;
  Tensor encode_gpu(const std::vector<Tensor>& imgs, const GpuModel& g) const;
  std::vector<PairOutput> decode_gpu(const Tensor* enc, const int64_t* h, const int64_t* w, int64_t batch,
                                     bool intermediates, const GpuModel& g,
                                     std::vector<std::pair<std::string, double>> timings,
                                     bool keep_on_device = false) const;
  Tensor checked_encoding(const Tensor& e, const std::string& name, int64_t h, int64_t w) const;
  mutable std::mutex gpu_mu_;
  mutable std::vector<std::shared_ptr<GpuModel>> gpu_models_;

  Mast3rConfig cfg_;
  std::vector<std::string> unused_;
  int64_t patch_ = 0, enc_dim_ = 0, dec_dim_ = 0, enc_heads_ = 0, dec_heads_ = 0, desc_dim_ = 0;
  std::vector<int64_t> hooks_;
  Tensor patch_w_, patch_b_;  // (enc_dim, 3 p p), (enc_dim,)
  std::vector<std::unique_ptr<EncoderBlock>> enc_blocks_;
  nn::LayerNorm enc_norm_, dec_norm_;
  nn::Linear decoder_embed_;
  std::vector<std::unique_ptr<DecoderBlock>> dec_blocks1_, dec_blocks2_;
  std::unique_ptr<DptHead> dpt_[2];
  std::unique_ptr<LocalFeatureHead> local_[2];
};

// ---- building blocks (encoder.cpp, decoder.cpp, heads.cpp) -------------------------

struct EncoderBlock {
  nn::LayerNorm norm1, norm2;
  nn::SelfAttention attn;
  nn::Mlp mlp;
  EncoderBlock(const nn::Params& p, const std::string& prefix, int64_t dim, int64_t heads, float eps,
               DType weight_dtype = DType::Float32);
  // x (batch*N, dim) updated in place; pos (batch*N, 2).
  void forward(float* x, int64_t batch, int64_t N, const int64_t* pos, const nn::RopeTable& rope) const;
};

struct DecoderBlock {
  nn::LayerNorm norm1, norm2, norm3, norm_y;
  nn::SelfAttention attn;
  nn::CrossAttention cross_attn;
  nn::Mlp mlp;
  DecoderBlock(const nn::Params& p, const std::string& prefix, int64_t dim, int64_t heads, float eps,
               DType weight_dtype = DType::Float32);
  // x (N, dim) updated in place from the other view's tokens y (M, dim).
  void forward(float* x, int64_t N, const int64_t* xpos, const float* y, int64_t M,
               const int64_t* ypos, const nn::RopeTable& rope) const;
};

// DPT (Ranftl et al. 2021) as DUSt3R's DPTOutputAdapter_fix: reassemble 4 token
// maps, project to feature_dim, fuse with RefineNet blocks, regress 4 channels.
// Runs on nn::conv2d_raw (float32, channels first, one image).
struct DptHead {
  struct Conv {
    Tensor w, b;  // b may be undefined
    int64_t stride = 1, pad = 0;
    bool transposed = false;
  };
  struct Rcu {
    Conv conv1, conv2;
  };
  struct Fusion {
    Rcu rcu1, rcu2;
    Conv out_conv;
  };
  Conv act_in[4];     // 1x1 convs to layer_dims
  Conv act_resize[4]; // levels 0,1: transposed (upsample), 3: strided (downsample), 2: none
  bool has_resize[4] = {false, false, false, false};
  Conv layer_rn[4];
  Fusion refine[4];   // refinenet1..4
  Conv head0, head2, head4;
  int64_t out_channels = 0;
  DptHead(const nn::Params& p, const std::string& prefix, const std::vector<int64_t>& token_dims);
  // tokens of the 4 hooks, each (h*w, token_dims[i]) -> (out_channels, 16h, 16w) for p = 16
  Tensor forward(const std::vector<const float*>& tokens, const std::vector<int64_t>& dims,
                 int64_t h, int64_t w) const;
};

// MASt3R's head_local_features: MLP on concat(enc, dec) tokens -> (desc_dim +
// two_confs) * p * p values per token.
struct LocalFeatureHead {
  nn::Mlp mlp;
  LocalFeatureHead(const nn::Params& p, const std::string& prefix, int64_t in_dim,
                   DType weight_dtype = DType::Float32);
};

}  // namespace mast3r
}  // namespace sc
