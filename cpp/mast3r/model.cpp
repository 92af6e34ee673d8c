// Mast3rModel: weights -> modules, and the forward pass of one image pair.
#include "mast3r/model.h"

#include <algorithm>
#include <chrono>
#include <cmath>

#include "autograd/grad_mode.h"
#include "core/thread_pool.h"
#include "kernels/mast3r_post.h"
#include "ops/blas.h"
#include "ops/ops.h"

namespace sc {
namespace mast3r {

namespace {

int64_t heads_for(int64_t dim, int64_t given, const char* what) {
  if (given > 0) {
    if (dim % given != 0)
      throw ValueError(std::string("mast3r: ") + what + " = " + std::to_string(given) +
                       " does not divide the embedding dimension " + std::to_string(dim));
    return given;
  }
  if (dim % 64 != 0)
    throw ValueError(std::string("mast3r: cannot infer ") + what + " for embedding dimension " +
                     std::to_string(dim) + " (not a multiple of 64); pass it in the config");
  return dim / 64;
}

int depth_mode_code(const RegMode& m) {
  const double inf = std::numeric_limits<double>::infinity();
  if (!(m.vmin == -inf && m.vmax == inf))
    throw ValueError("mast3r: bounded depth_mode (" + m.mode + ", " + std::to_string(m.vmin) + ", " +
                     std::to_string(m.vmax) + ") is not supported (DUSt3R asserts no bounds)");
  if (m.mode == "linear") return SC_DEPTH_LINEAR;
  if (m.mode == "square") return SC_DEPTH_SQUARE;
  if (m.mode == "exp") return SC_DEPTH_EXP;
  throw ValueError("mast3r: depth_mode must be 'linear', 'square' or 'exp', got '" + m.mode + "'");
}

void check_conf_mode(const RegMode& m, const char* what) {
  if (m.mode != "exp")
    throw ValueError(std::string("mast3r: ") + what + " must be 'exp', got '" + m.mode + "'");
  if (!(m.vmax > m.vmin))
    throw ValueError(std::string("mast3r: ") + what + " needs vmin < vmax");
}

int64_t count_blocks(const nn::Params& P, const std::string& prefix) {
  int64_t n = 0;
  while (P.has(prefix + "." + std::to_string(n) + ".norm1.weight")) ++n;
  if (n == 0) throw ValueError("weights: missing tensor '" + prefix + ".0.norm1.weight'");
  return n;
}

Tensor image_arg(const Tensor& img, const char* name, int64_t p) {
  if (!img.defined()) throw ValueError(std::string("mast3r: ") + name + " is undefined");
  if (img.ndim() != 3 || img.shape()[2] != 3)
    throw ValueError(std::string("mast3r: ") + name + " must be an (H, W, 3) image, got shape " +
                     shape_str(img.shape()));
  if (!is_floating(img.dtype()))
    throw TypeError(std::string("mast3r: ") + name + " must be a float image normalised to "
                    "[-1, 1], got dtype " + dtype_name(img.dtype()));
  const int64_t H = img.shape()[0], W = img.shape()[1];
  if (H <= 0 || W <= 0 || H % p != 0 || W % p != 0)
    throw ValueError(std::string("mast3r: ") + name + " size " + std::to_string(W) + "x" +
                     std::to_string(H) + " (W x H) is not a positive multiple of the patch size " +
                     std::to_string(p) + " in both dimensions");
  return img.detach().to(DType::Float32).contiguous();
}

}  // namespace

Mast3rModel::~Mast3rModel() = default;

Mast3rModel::Mast3rModel(const std::map<std::string, Tensor>& weights, const Mast3rConfig& config)
    : cfg_(config) {
  if (!(cfg_.weight_dtype == DType::Float32 || cfg_.weight_dtype == DType::Float16 ||
        cfg_.weight_dtype == DType::BFloat16))
    throw TypeError(std::string("mast3r: weight_dtype must be float32, float16 or bfloat16, got ") +
                    dtype_name(cfg_.weight_dtype));
  nn::Params P(weights, cfg_.check_only);
  const DType wdt = cfg_.weight_dtype;
  for (int k = 1; k <= 2; ++k)
    for (int i = 1; i <= 4; ++i) {
      const std::string s = "downstream_head" + std::to_string(k) + ".dpt.scratch.";
      P.alias(s + "layer" + std::to_string(i) + "_rn.weight", s + "layer_rn." + std::to_string(i - 1) + ".weight");
    }
  const float eps = (float)cfg_.ln_eps;

  // patch embedding
  Tensor pw = P.get("patch_embed.proj.weight");
  const Shape& ps = pw.shape();
  if (ps.size() != 4 || ps[1] != 3 || ps[2] != ps[3] || ps[2] <= 0)
    throw ValueError("weights: tensor 'patch_embed.proj.weight' has shape " + shape_str(ps) +
                     ", expected (enc_embed_dim, 3, p, p)");
  enc_dim_ = ps[0];
  patch_ = ps[2];
  patch_w_ = pw.reshape({enc_dim_, 3 * patch_ * patch_}).contiguous();
  patch_b_ = P.get("patch_embed.proj.bias", {enc_dim_});
  enc_heads_ = heads_for(enc_dim_, cfg_.enc_num_heads, "enc_num_heads");
  if ((enc_dim_ / enc_heads_) % 4 != 0)
    throw ValueError("mast3r: the encoder head dimension " + std::to_string(enc_dim_ / enc_heads_) +
                     " is not a multiple of 4 (2-D RoPE)");

  // encoder
  const int64_t ne = count_blocks(P, "enc_blocks");
  for (int64_t i = 0; i < ne; ++i)
    enc_blocks_.emplace_back(new EncoderBlock(P, "enc_blocks." + std::to_string(i), enc_dim_, enc_heads_, eps, wdt));
  enc_norm_ = nn::LayerNorm(P, "enc_norm", enc_dim_, eps);

  // decoder
  decoder_embed_ = nn::Linear(P, "decoder_embed", enc_dim_, -1, true, wdt);
  dec_dim_ = decoder_embed_.out;
  dec_heads_ = heads_for(dec_dim_, cfg_.dec_num_heads, "dec_num_heads");
  if ((dec_dim_ / dec_heads_) % 4 != 0)
    throw ValueError("mast3r: the decoder head dimension " + std::to_string(dec_dim_ / dec_heads_) +
                     " is not a multiple of 4 (2-D RoPE)");
  const int64_t nd = count_blocks(P, "dec_blocks");
  for (int64_t i = 0; i < nd; ++i) {
    dec_blocks1_.emplace_back(new DecoderBlock(P, "dec_blocks." + std::to_string(i), dec_dim_, dec_heads_, eps, wdt));
    dec_blocks2_.emplace_back(new DecoderBlock(P, "dec_blocks2." + std::to_string(i), dec_dim_, dec_heads_, eps, wdt));
  }
  if (P.has("dec_blocks2." + std::to_string(nd) + ".norm1.weight"))
    throw ValueError("weights: dec_blocks2 has more blocks than dec_blocks (" + std::to_string(nd) + ")");
  dec_norm_ = nn::LayerNorm(P, "dec_norm", dec_dim_, eps);

  // heads: DPT hooks as DUSt3R / MASt3R's head factory: [0, L/2, 3L/4, L]
  hooks_ = {0, nd * 2 / 4, nd * 3 / 4, nd};
  std::vector<int64_t> dims;
  for (int64_t hk : hooks_) dims.push_back(hk == 0 ? enc_dim_ : dec_dim_);
  const int64_t pp = patch_ * patch_;
  depth_mode_code(cfg_.depth_mode);
  check_conf_mode(cfg_.conf_mode, "conf_mode");
  if (cfg_.two_confs) check_conf_mode(cfg_.desc_conf_mode, "desc_conf_mode");
  if (cfg_.desc_mode != "norm")
    throw ValueError("mast3r: desc_mode must be 'norm', got '" + cfg_.desc_mode + "'");
  for (int k = 0; k < 2; ++k) {
    const std::string hp = "downstream_head" + std::to_string(k + 1);
    dpt_[k].reset(new DptHead(P, hp + ".dpt", dims));
    if (dpt_[k]->out_channels != 4)
      throw ValueError("weights: tensor '" + hp + ".dpt.head.4.weight' has " +
                       std::to_string(dpt_[k]->out_channels) + " outputs, expected 4 (pts3d + conf)");
    local_[k].reset(new LocalFeatureHead(P, hp + ".head_local_features", enc_dim_ + dec_dim_, wdt));
    const int64_t out = local_[k]->mlp.fc2.out, tc = cfg_.two_confs ? 1 : 0;
    if (out % pp != 0 || out / pp <= tc)
      throw ValueError("weights: tensor '" + hp + ".head_local_features.fc2.weight' has " +
                       std::to_string(out) + " outputs, expected (desc_dim + " + std::to_string(tc) +
                       ") * " + std::to_string(pp));
    const int64_t dd = out / pp - tc;
    if (cfg_.desc_dim > 0 && cfg_.desc_dim != dd)
      throw ValueError("weights: tensor '" + hp + ".head_local_features.fc2.weight' has " +
                       std::to_string(out) + " outputs, expected (" + std::to_string(cfg_.desc_dim) +
                       " + " + std::to_string(tc) + ") * " + std::to_string(pp) +
                       " for desc_dim " + std::to_string(cfg_.desc_dim));
    desc_dim_ = dd;
  }

  // names the model has no use for (mask_token: CroCo's pretraining token, unused at inference)
  for (const std::string& n : P.unused())
    if (n != "mask_token") unused_.push_back(n);
  if (cfg_.strict && !unused_.empty()) {
    std::string msg = "weights: " + std::to_string(unused_.size()) +
                      " unexpected tensor(s) for this model (not part of the AsymmetricMASt3R "
                      "catmlp+dpt state dict, or more blocks than the others): ";
    for (size_t i = 0; i < unused_.size() && i < 8; ++i) msg += (i ? ", '" : "'") + unused_[i] + "'";
    if (unused_.size() > 8) msg += ", ...";
    throw ValueError(msg);
  }
}

void Mast3rModel::check_runnable() const {
  if (cfg_.check_only)
    throw ValueError("mast3r: this model was built with check_only (names and shapes only); it cannot run");
}

ViewOutput Mast3rModel::run_head(int which, const std::vector<const float*>& hook_tokens,
                                 int64_t h, int64_t w, const float* enc, const float* dec_last) const {
  const int64_t p = patch_, H = h * p, W = w * p, N = h * w, HW = H * W;
  ViewOutput o;
  // DPT: pts3d + conf
  std::vector<int64_t> dims;
  for (int64_t hk : hooks_) dims.push_back(hk == 0 ? enc_dim_ : dec_dim_);
  Tensor d = dpt_[which]->forward(hook_tokens, dims, h, w);  // (4, H, W)
  o.pts3d = Tensor::empty({H, W, 3});
  o.conf = Tensor::empty({H, W});
  {
    const float* dd = d.data<float>();
    float* pts = o.pts3d.data<float>();
    float* conf = o.conf.data<float>();
    const int mode = depth_mode_code(cfg_.depth_mode);
    const float cmin = (float)cfg_.conf_mode.vmin, cmax = (float)cfg_.conf_mode.vmax;
    parallel_for(HW, 4096, [&](int64_t i0, int64_t i1) {
      for (int64_t i = i0; i < i1; ++i) {
        float xyz[3] = {dd[i], dd[HW + i], dd[2 * HW + i]};
        sc_reg_dense_depth(xyz, mode, pts + 3 * i);
        conf[i] = sc_reg_dense_conf_exp(dd[3 * HW + i], cmin, cmax);
      }
    });
  }
  // local features: MLP on concat(enc, dec) tokens, pixel-shuffled
  const int64_t Ce = enc_dim_, Cd = dec_dim_, Cin = Ce + Cd;
  Tensor cat = Tensor::empty({N, Cin});
  float* cd = cat.data<float>();
  parallel_for(N, 64, [&](int64_t t0, int64_t t1) {
    for (int64_t t = t0; t < t1; ++t) {
      std::copy(enc + t * Ce, enc + (t + 1) * Ce, cd + t * Cin);
      std::copy(dec_last + t * Cd, dec_last + (t + 1) * Cd, cd + t * Cin + Ce);
    }
  });
  const nn::Mlp& mlp = local_[which]->mlp;
  const int64_t F = mlp.fc2.out, pp = p * p, D = desc_dim_;
  Tensor feat = Tensor::empty({N, F});
  mlp.forward(cd, N, feat.data<float>());
  o.desc = Tensor::empty({H, W, D});
  o.desc_conf = Tensor::empty({H, W});
  {
    // pixel_shuffle: token t = (Y / p) * w + X / p, channel c at c * p^2 + (Y % p) * p + X % p
    const float* f = feat.data<float>();
    float* desc = o.desc.data<float>();
    float* dconf = o.desc_conf.data<float>();
    const float* conf = o.conf.data<float>();
    const bool two = cfg_.two_confs;
    const float cmin = (float)cfg_.desc_conf_mode.vmin, cmax = (float)cfg_.desc_conf_mode.vmax;
    parallel_for(H, 4, [&](int64_t y0, int64_t y1) {
      for (int64_t Y = y0; Y < y1; ++Y)
        for (int64_t X = 0; X < W; ++X) {
          const int64_t t = (Y / p) * w + X / p;
          const float* base = f + t * F + (Y % p) * p + (X % p);
          sc_reg_desc_norm(base, (int)D, (int)pp, desc + (Y * W + X) * D);
          dconf[Y * W + X] = two ? sc_reg_dense_conf_exp(base[D * pp], cmin, cmax) : conf[Y * W + X];
        }
    });
  }
  return o;
}

namespace {

using Clock = std::chrono::steady_clock;

double ms_since(Clock::time_point t) {
  return std::chrono::duration<double, std::milli>(Clock::now() - t).count();
}

}  // namespace

Tensor Mast3rModel::encode(const std::vector<Tensor>& imgs_in) const {
  check_runnable();
  NoGradGuard no_grad;
  if (imgs_in.empty()) throw ValueError("mast3r: encode needs at least one image");
  const int64_t p = patch_;
  std::vector<Tensor> imgs;
  for (size_t i = 0; i < imgs_in.size(); ++i) {
    const std::string name = "images[" + std::to_string(i) + "]";
    imgs.push_back(image_arg(imgs_in[i], name.c_str(), p));
    if (imgs.back().shape() != imgs[0].shape())
      throw ValueError("mast3r: encode takes images of one size: " + name + " is " +
                       std::to_string(imgs.back().shape()[1]) + "x" + std::to_string(imgs.back().shape()[0]) +
                       ", images[0] " + std::to_string(imgs[0].shape()[1]) + "x" +
                       std::to_string(imgs[0].shape()[0]) + " (W x H)");
  }
  const int64_t B = (int64_t)imgs.size(), h = imgs[0].shape()[0] / p, w = imgs[0].shape()[1] / p, N = h * w;
  Tensor g = nn::grid_positions(h, w);
  Tensor pos = B == 1 ? g : concat(std::vector<Tensor>((size_t)B, g), 0);
  const nn::RopeTable rope = nn::make_rope_table(enc_dim_ / enc_heads_, std::max(h, w), (float)cfg_.rope_base);
  Tensor out = Tensor::empty({B * N, enc_dim_});
  SerialBlasScope serial;
  encode_into(imgs, h, w, pos.data<int64_t>(), rope, out.data<float>());
  return out;
}

PairOutput Mast3rModel::forward(const Tensor& img1_in, const Tensor& img2_in,
                                bool intermediates) const {
  check_runnable();
  NoGradGuard no_grad;
  SerialBlasScope serial;
  const auto t0 = Clock::now();
  const int64_t p = patch_;
  Tensor img[2] = {image_arg(img1_in, "img1", p), image_arg(img2_in, "img2", p)};
  int64_t h[2], w[2], N[2];
  for (int k = 0; k < 2; ++k) {
    h[k] = img[k].shape()[0] / p;
    w[k] = img[k].shape()[1] / p;
    N[k] = h[k] * w[k];
  }
  // encoder: both images in one batch when they have the same size
  Tensor enc[2];
  if (h[0] == h[1] && w[0] == w[1]) {
    Tensor both = encode({img[0], img[1]});
    enc[0] = both.slice(0, 0, N[0]);
    enc[1] = both.slice(0, N[0], 2 * N[0]);
  } else {
    for (int k = 0; k < 2; ++k) enc[k] = encode({img[k]});
  }
  std::vector<std::pair<std::string, double>> timings;
  timings.emplace_back("encoder", ms_since(t0));
  PairOutput out = decode_impl(enc, h, w, intermediates, std::move(timings));
  for (auto& t : out.timings_ms)
    if (t.first == "total") t.second = ms_since(t0);
  return out;
}

Tensor Mast3rModel::checked_encoding(const Tensor& e, const std::string& name, int64_t h, int64_t w) const {
  if (!e.defined()) throw ValueError("mast3r: " + name + " is undefined");
  if (h <= 0 || w <= 0)
    throw ValueError("mast3r: " + name + ": the patch grid must be positive, got " + std::to_string(h) + " x " +
                     std::to_string(w));
  Tensor t = e.detach();
  if (t.ndim() == 3 && t.shape()[0] == 1) t = t.select(0, 0);
  if (t.ndim() != 2 || t.shape()[0] != h * w || t.shape()[1] != enc_dim_)
    throw ValueError("mast3r: " + name + " must be the encoder output of shape (" + std::to_string(h * w) + ", " +
                     std::to_string(enc_dim_) + ") for a " + std::to_string(h) + " x " + std::to_string(w) +
                     " patch grid, got " + shape_str(e.shape()));
  return t.to(DType::Float32).contiguous();
}

PairOutput Mast3rModel::decode(const Tensor& enc1, int64_t h1, int64_t w1, const Tensor& enc2,
                               int64_t h2, int64_t w2, bool intermediates) const {
  check_runnable();
  NoGradGuard no_grad;
  const int64_t hh[2] = {h1, h2}, ww[2] = {w1, w2};
  Tensor enc[2] = {checked_encoding(enc1, "enc1", h1, w1), checked_encoding(enc2, "enc2", h2, w2)};
  if (enc[0].device() != enc[1].device())
    throw ValueError("mast3r: enc1 is on " + enc[0].device().str() + " and enc2 on " + enc[1].device().str() +
                     "; decode needs both on one device");
  if (enc[0].device().is_gpu())  // on the device of the encoder outputs (gpu_forward.cpp)
    return std::move(decode_gpu(enc, hh, ww, 1, intermediates, gpu_model(enc[0].device()), {})[0]);
  return decode_impl(enc, hh, ww, intermediates, {});
}

std::vector<PairOutput> Mast3rModel::decode_batch(const std::vector<Tensor>& enc1, int64_t h1, int64_t w1,
                                                  const std::vector<Tensor>& enc2, int64_t h2, int64_t w2,
                                                  bool intermediates, bool keep_on_device) const {
  check_runnable();
  NoGradGuard no_grad;
  if (enc1.empty() || enc1.size() != enc2.size())
    throw ValueError("mast3r: decode_batch takes as many enc1 as enc2 encodings, at least one; got " +
                     std::to_string(enc1.size()) + " and " + std::to_string(enc2.size()));
  const int64_t hh[2] = {h1, h2}, ww[2] = {w1, w2};
  std::vector<Tensor> parts[2];
  for (size_t b = 0; b < enc1.size(); ++b) {
    const std::string i = "[" + std::to_string(b) + "]";
    parts[0].push_back(checked_encoding(enc1[b], "enc1" + i, h1, w1));
    parts[1].push_back(checked_encoding(enc2[b], "enc2" + i, h2, w2));
    for (int k = 0; k < 2; ++k)
      if (parts[k].back().device() != parts[0][0].device())
        throw ValueError("mast3r: decode_batch needs every encoding on one device: enc" + std::to_string(k + 1) + i +
                         " is on " + parts[k].back().device().str() + ", enc1[0] on " + parts[0][0].device().str());
  }
  const Device d = parts[0][0].device();
  std::vector<PairOutput> out;
  if (!d.is_gpu()) {
    for (size_t b = 0; b < enc1.size(); ++b) {
      Tensor enc[2] = {parts[0][b], parts[1][b]};
      out.push_back(decode_impl(enc, hh, ww, intermediates, {}));
    }
    return out;
  }
  Tensor enc[2];
  for (int k = 0; k < 2; ++k) enc[k] = parts[k].size() == 1 ? parts[k][0] : concat(parts[k], 0);
  return decode_gpu(enc, hh, ww, (int64_t)enc1.size(), intermediates, gpu_model(d), {}, keep_on_device);
}

PairOutput Mast3rModel::decode_impl(const Tensor* enc, const int64_t* h, const int64_t* w,
                                    bool intermediates,
                                    std::vector<std::pair<std::string, double>> timings) const {
  SerialBlasScope serial;
  const auto t_start = Clock::now();
  auto t_last = t_start;
  auto lap = [&](const char* stage) {
    timings.emplace_back(stage, ms_since(t_last));
    t_last = Clock::now();
  };
  int64_t N[2];
  Tensor pos[2];
  for (int k = 0; k < 2; ++k) {
    N[k] = h[k] * w[k];
    pos[k] = nn::grid_positions(h[k], w[k]);
  }
  const int64_t npos = std::max(std::max(h[0], w[0]), std::max(h[1], w[1]));
  const nn::RopeTable rope_dec = nn::make_rope_table(dec_dim_ / dec_heads_, npos, (float)cfg_.rope_base);

  // ---- decoder: both views from the previous layer's outputs ----
  const int64_t L = dec_depth();
  Tensor f[2];
  for (int k = 0; k < 2; ++k) {
    f[k] = Tensor::empty({N[k], dec_dim_});
    decoder_embed_.forward(enc[k].data<float>(), enc_dim_, N[k], f[k].data<float>(), dec_dim_);
  }
  std::vector<Tensor> kept[2];
  for (int k = 0; k < 2; ++k) kept[k].resize((size_t)L + 1);
  auto needed = [&](int64_t layer) {
    return std::find(hooks_.begin(), hooks_.end(), layer) != hooks_.end();
  };
  for (int64_t l = 0; l < L; ++l) {
    Tensor nf[2];
    for (int k = 0; k < 2; ++k) {
      const DecoderBlock& blk = k == 0 ? *dec_blocks1_[l] : *dec_blocks2_[l];
      nf[k] = f[k].clone();
      blk.forward(nf[k].data<float>(), N[k], pos[k].data<int64_t>(), f[1 - k].data<float>(),
                  N[1 - k], pos[1 - k].data<int64_t>(), rope_dec);
    }
    for (int k = 0; k < 2; ++k) {
      f[k] = nf[k];
      if (l + 1 < L && needed(l + 1)) kept[k][(size_t)l + 1] = f[k];
    }
  }
  for (int k = 0; k < 2; ++k) {
    dec_norm_.forward(f[k].data<float>(), dec_dim_, N[k], f[k].data<float>(), dec_dim_);
    kept[k][(size_t)L] = f[k];
    kept[k][0] = enc[k];
  }
  lap("decoder");

  // ---- heads ----
  PairOutput out;
  ViewOutput* views[2] = {&out.view1, &out.view2};
  for (int k = 0; k < 2; ++k) {
    std::vector<const float*> hook_tokens;
    for (int64_t hk : hooks_) hook_tokens.push_back(kept[k][(size_t)hk].data<float>());
    *views[k] = run_head(k, hook_tokens, h[k], w[k], enc[k].data<float>(), f[k].data<float>());
    if (intermediates) {
      views[k]->enc = enc[k];
      views[k]->dec_last = f[k];
    }
    lap(k == 0 ? "head1" : "head2");
  }
  timings.emplace_back("total", ms_since(t_start));
  out.timings_ms = std::move(timings);
  return out;
}

}  // namespace mast3r
}  // namespace sc
