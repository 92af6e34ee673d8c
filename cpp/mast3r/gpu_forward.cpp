// MASt3R on a GPU device: the network of model.cpp / encoder.cpp / decoder.cpp /
// heads.cpp, step for step, over device tensors.
//
//   weights     uploaded once per device (GpuModel, built on the first call and
//               cached in the model): Linear weights transposed to (in, out) in
//               the model's weight_dtype; norms, biases, convs float32
//   Linear      a GEMM through the GPU matmul (cuBLAS on CUDA, the tiled kernel
//               elsewhere), the float16 / bfloat16 weight converted to float32
//               on the device first (as the CPU converts per tile: same
//               products), then mast3r_bias_act (bias, GELU or the residual add)
//   LayerNorm, 2-D RoPE, attention: the kernels of gpu/kernels/mast3r.h
//               (fused attention with an online softmax: no N x N matrix)
//   DPT head    convs as im2col + GEMM accumulating into the output (bias and
//               residual set first, ReLUs applied by the im2col), in bands of
//               output rows; conv_transpose2d, bilinear upsampling, add; the
//               same rewrites as heads.cpp (out_conv before the upsampling)
//   outputs     mast3r_dense_post / mast3r_desc_post, then copied to the host.
// Everything is queued on the device's queue; the host waits only at the
// stage boundaries (for the timings) and at the final copies.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdlib>

#include "autograd/grad_mode.h"
#include "gpu/ops/gpu_ops.h"
#include "gpu/ops/mast3r.h"
#include "gpu/runtime.h"
#include "kernels/mast3r_post.h"
#include "mast3r/model.h"
#include "ops/index.h"
#include "ops/linalg.h"
#include "ops/ops.h"

namespace sc {
namespace mast3r {

namespace gm = gpu::mast3r;

namespace {

struct GLinear {
  Tensor wt, b;  // (in, out) in the weight dtype; (out,) float32 or undefined
  int64_t in = 0, out = 0;
};
struct GNorm {
  Tensor w, b;
  float eps = 1e-6f;
};
struct GConv {
  Tensor w, b;  // as the CPU's DptHead::Conv, float32 on the device
  int64_t stride = 1, pad = 0;
  bool transposed = false;
};
struct GEnc {
  GNorm n1, n2;
  GLinear qkv, proj, fc1, fc2;
};
struct GDec {
  GNorm n1, n2, n3, ny;
  GLinear qkv, proj, q, k, v, cproj, fc1, fc2;
};
struct GRcu {
  GConv c1, c2;
};
struct GFusion {
  GRcu r1, r2;
  GConv out;
};
struct GDpt {
  GLinear act_in[4];  // the 1x1 convs on the tokens, as Linears
  GConv resize[4];
  bool has_resize[4] = {false, false, false, false};
  GConv layer_rn[4];
  GFusion refine[4];
  GConv head0, head2, head4;
};

Tensor up(const Tensor& t, Device d) { return t.defined() ? t.detach().contiguous().to_device(d) : Tensor(); }

GLinear up_linear(const nn::Linear& l, Device d) {
  GLinear g;
  g.wt = l.w.detach().transpose(0, 1).contiguous().to_device(d);
  g.b = up(l.b, d);
  g.in = l.in;
  g.out = l.out;
  return g;
}
GNorm up_norm(const nn::LayerNorm& n, Device d) {
  GNorm g;
  g.w = up(n.w, d);
  g.b = up(n.b, d);
  g.eps = n.eps;
  return g;
}
GConv up_conv(const DptHead::Conv& c, Device d) {
  GConv g;
  g.w = up(c.w, d);
  g.b = up(c.b, d);
  g.stride = c.stride;
  g.pad = c.pad;
  g.transposed = c.transposed;
  return g;
}

// ---- layers on the device ------------------------------------------------------------

Tensor weight_f32(const GLinear& l) { return l.wt.dtype() == DType::Float32 ? l.wt : l.wt.to(DType::Float32); }

// act(x l.w^T + b): x (R, in) with contiguous rows
Tensor linear(const GLinear& l, const Tensor& x, int act = 0) {
  Tensor t = matmul(x.contiguous(), weight_f32(l));
  gm::bias_act(t, l.b, t, act, false);
  return t;
}
// y += x l.w^T + b
void linear_acc(const GLinear& l, const Tensor& x, const Tensor& y) {
  Tensor t = matmul(x.contiguous(), weight_f32(l));
  gm::bias_act(t, l.b, y, 0, true);
}
Tensor norm(const GNorm& n, const Tensor& x) {
  Tensor y = Tensor::empty(x.shape(), DType::Float32, x.device());
  gm::layer_norm(x, n.w, n.b, n.eps, y);
  return y;
}

// Positions and angle tables of one attention stack on the device.
struct Rope {
  Tensor cos_t, sin_t;
  int64_t heads = 0, head_dim = 0;
};
Rope make_rope(int64_t head_dim, int64_t heads, int64_t npos, float base, Device d) {
  nn::RopeTable t = nn::make_rope_table(head_dim, npos, base);
  Rope r;
  r.heads = heads;
  r.head_dim = head_dim;
  r.cos_t = Tensor::empty({t.npos, t.n});
  r.sin_t = Tensor::empty({t.npos, t.n});
  std::copy(t.cos.begin(), t.cos.end(), r.cos_t.data<float>());
  std::copy(t.sin.begin(), t.sin.end(), r.sin_t.data<float>());
  r.cos_t = r.cos_t.to_device(d);
  r.sin_t = r.sin_t.to_device(d);
  return r;
}
// (y, x) of an h x w grid, `copies` times, int32 on the device
Tensor grid_pos(int64_t h, int64_t w, int64_t copies, Device d) {
  Tensor g = nn::grid_positions(h, w).to(DType::Int32);
  if (copies > 1) g = concat(std::vector<Tensor>((size_t)copies, g), 0);
  return g.contiguous().to_device(d);
}

// x += proj(attn(qkv(x_normed))) over `batch` items of N tokens
void self_attention(const GLinear& qkv_l, const GLinear& proj, const Tensor& h, int64_t batch, int64_t N,
                    const Tensor& pos, const Rope& rope, const Tensor& x) {
  const int64_t C = proj.in, H = rope.heads, D = rope.head_dim;
  Tensor qkv = linear(qkv_l, h);  // (B N, 3 C)
  Tensor q = qkv.slice(1, 0, C), k = qkv.slice(1, C, 2 * C), v = qkv.slice(1, 2 * C, 3 * C);
  gm::rope2d(q, H, D, pos, rope.cos_t, rope.sin_t);
  gm::rope2d(k, H, D, pos, rope.cos_t, rope.sin_t);
  Tensor a = Tensor::empty({batch * N, C}, DType::Float32, h.device());
  gm::attention(q, k, v, a, batch, N, N, H, D);
  linear_acc(proj, a, x);
}

// Bytes of im2col columns one conv call may hold (SPLATCORE_MAST3R_CONV_BAND_BYTES
// overrides, for tests): larger convs run in bands of output rows, each from
// its input rows with explicit zero rows at the image edges, so the DPT head's
// full-resolution 3x3 convs do not hold their whole column matrix at once
// (at 512 x 384 head.2 would take 0.9 GB).
int64_t conv_band_bytes() {
  const char* e = std::getenv("SPLATCORE_MAST3R_CONV_BAND_BYTES");
  if (e && *e) {
    const long long v = std::atoll(e);
    if (v > 0) return (int64_t)v;
  }
  return int64_t(64) << 20;
}

// A conv of the DPT head as GEMMs that write straight into its output: y is
// first set to the bias (+ the residual), then each band of output rows gets
// y[band] += W cols(band), the band's columns gathered from the whole input (taps
// outside it read zeros), with the ReLU before the conv applied as they are
// read (relu_in). So there are no band copies and no separate bias, ReLU or
// residual passes.
Tensor conv(const GConv& c, const Tensor& x, bool relu_in = false, const Tensor* residual = nullptr) {
  if (c.transposed) {
    Tensor y = conv_transpose2d(relu_in ? relu(x) : x, c.w, c.b, c.stride, c.stride, 0, 0);
    return residual ? add(y, *residual) : y;
  }
  const int64_t C = x.shape()[1], H = x.shape()[2], W = x.shape()[3], k = c.w.shape()[2], s = c.stride,
                pd = c.pad, O = c.w.shape()[0];
  const int64_t Ho = (H + 2 * pd - k) / s + 1, Wo = (W + 2 * pd - k) / s + 1, Kc = C * k * k;
  Tensor y = Tensor::empty({1, O, Ho, Wo}, DType::Float32, x.device());
  gm::channel_bias(y, c.b, residual ? residual->contiguous() : Tensor());
  const Tensor w2 = c.w.reshape({O, Kc}), y2 = y.reshape({O, Ho * Wo}), xi = x.contiguous();
  if (k == 1 && s == 1 && pd == 0) {  // the input planes are the column matrix
    gpu::matmul_accumulate(y2, w2, (relu_in ? relu(xi) : xi).reshape({C, H * W}));
    return y;
  }
  const int64_t row_bytes = Kc * Wo * (int64_t)sizeof(float);  // columns of one output row
  const int64_t R = std::min(Ho, std::max<int64_t>(1, conv_band_bytes() / std::max<int64_t>(row_bytes, 1)));
  Tensor cols_buf = Tensor::empty({Kc * R * Wo}, DType::Float32, x.device());  // reused: one queue, in order
  const Tensor image = xi.reshape({C, H, W});
  for (int64_t r0 = 0; r0 < Ho; r0 += R) {
    const int64_t r1 = std::min(Ho, r0 + R);
    Tensor cols = cols_buf.slice(0, 0, Kc * (r1 - r0) * Wo).reshape({Kc, (r1 - r0) * Wo});
    gpu::ConvShape sh{C, H, W, 1, k, k, r1 - r0, Wo, s, s, pd, pd, 1, 1};
    sh.oh0 = r0;
    sh.relu_in = relu_in;
    gpu::im2col(image, cols, sh);
    gpu::matmul_accumulate(y2.slice(1, r0 * Wo, r1 * Wo), w2, cols);
  }
  return y;
}

// rcu(x) = x + conv2(relu(conv1(relu(x))))
Tensor rcu(const GRcu& r, const Tensor& x) {
  Tensor t = conv(r.c1, x, true);
  return conv(r.c2, t, true, &x);
}
// out_conv(up2(rcu2(x + rcu1(skip)))), out_conv before the upsampling (heads.cpp)
Tensor fusion(const GFusion& f, const Tensor& x, const Tensor* skip) {
  Tensor cur = skip ? add(rcu(f.r1, *skip), x) : x;
  cur = conv(f.out, rcu(f.r2, cur));
  return upsample_bilinear(cur, 2 * cur.shape()[2], 2 * cur.shape()[3], true);
}

using Clock = std::chrono::steady_clock;
double ms_since(Clock::time_point t) { return std::chrono::duration<double, std::milli>(Clock::now() - t).count(); }

}  // namespace

struct Mast3rModel::GpuModel {
  Device dev;
  Tensor patch_w, patch_b;  // (E, 3, p, p), (E,)
  std::vector<GEnc> enc;
  GNorm enc_norm, dec_norm;
  GLinear dec_embed;
  std::vector<GDec> dec[2];
  GDpt dpt[2];
  GLinear local_fc1[2], local_fc2[2];
};

const Mast3rModel::GpuModel& Mast3rModel::gpu_model(Device d) const {
  check_runnable();
  if (!d.is_gpu()) throw ValueError("mast3r: gpu_model needs a GPU device, got " + d.str());
  std::lock_guard<std::mutex> lk(gpu_mu_);
  for (const auto& g : gpu_models_)
    if (g->dev == d) return *g;
  gpu::runtime(d);  // ValueError naming the device when it is not there
  NoGradGuard no_grad;
  auto g = std::make_shared<GpuModel>();
  g->dev = d;
  g->patch_w = up(patch_w_.reshape({enc_dim_, 3, patch_, patch_}), d);
  g->patch_b = up(patch_b_, d);
  for (const auto& b : enc_blocks_) {
    GEnc e;
    e.n1 = up_norm(b->norm1, d);
    e.n2 = up_norm(b->norm2, d);
    e.qkv = up_linear(b->attn.qkv, d);
    e.proj = up_linear(b->attn.proj, d);
    e.fc1 = up_linear(b->mlp.fc1, d);
    e.fc2 = up_linear(b->mlp.fc2, d);
    g->enc.push_back(std::move(e));
  }
  g->enc_norm = up_norm(enc_norm_, d);
  g->dec_norm = up_norm(dec_norm_, d);
  g->dec_embed = up_linear(decoder_embed_, d);
  for (int k = 0; k < 2; ++k) {
    for (const auto& b : k == 0 ? dec_blocks1_ : dec_blocks2_) {
      GDec e;
      e.n1 = up_norm(b->norm1, d);
      e.n2 = up_norm(b->norm2, d);
      e.n3 = up_norm(b->norm3, d);
      e.ny = up_norm(b->norm_y, d);
      e.qkv = up_linear(b->attn.qkv, d);
      e.proj = up_linear(b->attn.proj, d);
      e.q = up_linear(b->cross_attn.projq, d);
      e.k = up_linear(b->cross_attn.projk, d);
      e.v = up_linear(b->cross_attn.projv, d);
      e.cproj = up_linear(b->cross_attn.proj, d);
      e.fc1 = up_linear(b->mlp.fc1, d);
      e.fc2 = up_linear(b->mlp.fc2, d);
      g->dec[k].push_back(std::move(e));
    }
    const DptHead& h = *dpt_[k];
    GDpt& o = g->dpt[k];
    for (int i = 0; i < 4; ++i) {
      const Tensor& w = h.act_in[i].w;  // (L, C, 1, 1)
      o.act_in[i].wt = w.reshape({w.shape()[0], w.shape()[1]}).transpose(0, 1).contiguous().to_device(d);
      o.act_in[i].b = up(h.act_in[i].b, d);
      o.act_in[i].in = w.shape()[1];
      o.act_in[i].out = w.shape()[0];
      o.has_resize[i] = h.has_resize[i];
      if (h.has_resize[i]) o.resize[i] = up_conv(h.act_resize[i], d);
      o.layer_rn[i] = up_conv(h.layer_rn[i], d);
      o.refine[i].r1.c1 = up_conv(h.refine[i].rcu1.conv1, d);
      o.refine[i].r1.c2 = up_conv(h.refine[i].rcu1.conv2, d);
      o.refine[i].r2.c1 = up_conv(h.refine[i].rcu2.conv1, d);
      o.refine[i].r2.c2 = up_conv(h.refine[i].rcu2.conv2, d);
      o.refine[i].out = up_conv(h.refine[i].out_conv, d);
    }
    o.head0 = up_conv(h.head0, d);
    o.head2 = up_conv(h.head2, d);
    o.head4 = up_conv(h.head4, d);
    g->local_fc1[k] = up_linear(local_[k]->mlp.fc1, d);
    g->local_fc2[k] = up_linear(local_[k]->mlp.fc2, d);
  }
  gpu_models_.push_back(g);
  return *g;
}

std::vector<Device> Mast3rModel::resident_devices() const {
  std::lock_guard<std::mutex> lk(gpu_mu_);
  std::vector<Device> r;
  for (const auto& g : gpu_models_) r.push_back(g->dev);
  return r;
}

namespace {

Tensor device_image(const Tensor& img, const char* name, int64_t p, Device d) {
  if (!img.defined()) throw ValueError(std::string("mast3r: ") + name + " is undefined");
  if (img.ndim() != 3 || img.shape()[2] != 3)
    throw ValueError(std::string("mast3r: ") + name + " must be an (H, W, 3) image, got shape " +
                     shape_str(img.shape()));
  if (!is_floating(img.dtype()))
    throw TypeError(std::string("mast3r: ") + name + " must be a float image normalised to [-1, 1], got dtype " +
                    dtype_name(img.dtype()));
  const int64_t H = img.shape()[0], W = img.shape()[1];
  if (H <= 0 || W <= 0 || H % p != 0 || W % p != 0)
    throw ValueError(std::string("mast3r: ") + name + " size " + std::to_string(W) + "x" + std::to_string(H) +
                     " (W x H) is not a positive multiple of the patch size " + std::to_string(p) +
                     " in both dimensions");
  Tensor t = img.detach();
  if (t.device() != d) t = (t.device().is_gpu() ? t : t.to(DType::Float32)).to_device(d);
  // (H, W, 3) -> (1, 3, H, W)
  return t.to(DType::Float32).permute({2, 0, 1}).unsqueeze(0).contiguous();
}

}  // namespace

Tensor Mast3rModel::encode_gpu(const std::vector<Tensor>& imgs, const GpuModel& g) const {
  // imgs: (1, 3, H, W) float32 on g.dev, one size
  const int64_t B = (int64_t)imgs.size(), p = patch_, h = imgs[0].shape()[2] / p, w = imgs[0].shape()[3] / p,
                N = h * w, E = enc_dim_, D = E / enc_heads_;
  Tensor x4 = conv2d(B == 1 ? imgs[0] : concat(imgs, 0), g.patch_w, g.patch_b, p, p, 0, 0);  // (B, E, h, w)
  Tensor x = x4.reshape({B, E, N}).permute({0, 2, 1}).contiguous().reshape({B * N, E});
  Tensor pos = grid_pos(h, w, B, g.dev);
  Rope rope = make_rope(D, enc_heads_, std::max(h, w), (float)cfg_.rope_base, g.dev);
  for (const GEnc& b : g.enc) {
    self_attention(b.qkv, b.proj, norm(b.n1, x), B, N, pos, rope, x);
    linear_acc(b.fc2, linear(b.fc1, norm(b.n2, x), 1), x);
  }
  gm::layer_norm(x, g.enc_norm.w, g.enc_norm.b, g.enc_norm.eps, x);
  return x;
}

Tensor Mast3rModel::encode(const std::vector<Tensor>& imgs_in, Device device) const {
  if (!device.is_gpu()) return encode(imgs_in);
  check_runnable();
  NoGradGuard no_grad;
  if (imgs_in.empty()) throw ValueError("mast3r: encode needs at least one image");
  const GpuModel& g = gpu_model(device);
  std::vector<Tensor> imgs;
  for (size_t i = 0; i < imgs_in.size(); ++i) {
    const std::string name = "images[" + std::to_string(i) + "]";
    imgs.push_back(device_image(imgs_in[i], name.c_str(), patch_, device));
    if (imgs.back().shape() != imgs[0].shape())
      throw ValueError("mast3r: encode takes images of one size: " + name + " is " +
                       std::to_string(imgs.back().shape()[3]) + "x" + std::to_string(imgs.back().shape()[2]) +
                       ", images[0] " + std::to_string(imgs[0].shape()[3]) + "x" +
                       std::to_string(imgs[0].shape()[2]) + " (W x H)");
  }
  return encode_gpu(imgs, g);
}

PairOutput Mast3rModel::forward(const Tensor& img1_in, const Tensor& img2_in, bool intermediates,
                                Device device, bool keep_on_device) const {
  if (!device.is_gpu()) return forward(img1_in, img2_in, intermediates);
  check_runnable();
  NoGradGuard no_grad;
  const auto t0 = Clock::now();
  const GpuModel& g = gpu_model(device);
  const int64_t p = patch_;
  Tensor img[2] = {device_image(img1_in, "img1", p, device), device_image(img2_in, "img2", p, device)};
  int64_t h[2], w[2], N[2];
  for (int k = 0; k < 2; ++k) {
    h[k] = img[k].shape()[2] / p;
    w[k] = img[k].shape()[3] / p;
    N[k] = h[k] * w[k];
  }
  Tensor enc[2];
  if (h[0] == h[1] && w[0] == w[1]) {  // both images in one batch: each encoded once
    Tensor both = encode_gpu({img[0], img[1]}, g);
    enc[0] = both.slice(0, 0, N[0]);
    enc[1] = both.slice(0, N[0], 2 * N[0]);
  } else {
    for (int k = 0; k < 2; ++k) enc[k] = encode_gpu({img[k]}, g);
  }
  gpu::runtime(device).synchronize();
  std::vector<std::pair<std::string, double>> timings;
  timings.emplace_back("encoder", ms_since(t0));
  PairOutput out = std::move(decode_gpu(enc, h, w, 1, intermediates, g, std::move(timings), keep_on_device)[0]);
  for (auto& t : out.timings_ms)
    if (t.first == "total") t.second = ms_since(t0);
  return out;
}

// `batch` pairs of one shape at once: enc[k] holds view k + 1 of every pair, pair b
// in rows [b N_k, (b + 1) N_k). The decoder runs on all of them together (its
// GEMMs and attention batched over the pairs); the heads run pair by pair.
std::vector<PairOutput> Mast3rModel::decode_gpu(const Tensor* enc, const int64_t* h, const int64_t* w,
                                                int64_t batch, bool intermediates, const GpuModel& g,
                                                std::vector<std::pair<std::string, double>> timings,
                                                bool keep_on_device) const {
  NoGradGuard no_grad;
  const Device dev = g.dev;
  gpu::Runtime& rt = gpu::runtime(dev);
  const auto t_start = Clock::now();
  auto t_last = t_start;
  auto lap = [&](const char* stage) {
    rt.synchronize();
    timings.emplace_back(stage, ms_since(t_last));
    t_last = Clock::now();
  };
  const int64_t Cd = dec_dim_, L = dec_depth(), p = patch_;
  int64_t N[2];
  Tensor pos[2];
  for (int k = 0; k < 2; ++k) {
    N[k] = h[k] * w[k];
    pos[k] = grid_pos(h[k], w[k], batch, dev);
  }
  const int64_t npos = std::max(std::max(h[0], w[0]), std::max(h[1], w[1]));
  Rope rope = make_rope(Cd / dec_heads_, dec_heads_, npos, (float)cfg_.rope_base, dev);

  // ---- decoder: both views from the previous layer's outputs ----
  Tensor f[2];
  for (int k = 0; k < 2; ++k) f[k] = linear(g.dec_embed, enc[k]);
  std::vector<Tensor> kept[2];
  for (int k = 0; k < 2; ++k) kept[k].resize((size_t)L + 1);
  auto needed = [&](int64_t layer) { return std::find(hooks_.begin(), hooks_.end(), layer) != hooks_.end(); };
  for (int64_t l = 0; l < L; ++l) {
    Tensor nf[2];
    for (int k = 0; k < 2; ++k) {
      const GDec& b = g.dec[k][(size_t)l];
      const Tensor& y = f[1 - k];
      Tensor x = f[k].clone();
      self_attention(b.qkv, b.proj, norm(b.n1, x), batch, N[k], pos[k], rope, x);
      // cross-attention to the other view's previous-layer tokens
      Tensor yn = norm(b.ny, y);
      Tensor q = linear(b.q, norm(b.n2, x)), kk = linear(b.k, yn), vv = linear(b.v, yn);
      gm::rope2d(q, rope.heads, rope.head_dim, pos[k], rope.cos_t, rope.sin_t);
      gm::rope2d(kk, rope.heads, rope.head_dim, pos[1 - k], rope.cos_t, rope.sin_t);
      Tensor a = Tensor::empty({batch * N[k], Cd}, DType::Float32, dev);
      gm::attention(q, kk, vv, a, batch, N[k], N[1 - k], rope.heads, rope.head_dim);
      linear_acc(b.cproj, a, x);
      linear_acc(b.fc2, linear(b.fc1, norm(b.n3, x), 1), x);
      nf[k] = x;
    }
    for (int k = 0; k < 2; ++k) {
      f[k] = nf[k];
      if (l + 1 < L && needed(l + 1)) kept[k][(size_t)l + 1] = f[k];
    }
  }
  for (int k = 0; k < 2; ++k) {
    gm::layer_norm(f[k], g.dec_norm.w, g.dec_norm.b, g.dec_norm.eps, f[k]);
    kept[k][(size_t)L] = f[k];
    kept[k][0] = enc[k];
  }
  lap("decoder");

  // ---- heads, pair by pair ----
  std::vector<PairOutput> outs((size_t)batch);
  const Device host = keep_on_device ? dev : Device{};  // where the outputs go
  const std::string& dm = cfg_.depth_mode.mode;  // checked by the constructor
  const int depth_mode = dm == "linear" ? SC_DEPTH_LINEAR : dm == "square" ? SC_DEPTH_SQUARE : SC_DEPTH_EXP;
  for (int64_t pb = 0; pb < batch; ++pb) {
  PairOutput& out = outs[(size_t)pb];
  ViewOutput* views[2] = {&out.view1, &out.view2};
  auto rows = [&](const Tensor& t, int k) { return batch == 1 ? t : t.slice(0, pb * N[k], (pb + 1) * N[k]); };
  for (int k = 0; k < 2; ++k) {
    const GDpt& dp = g.dpt[k];
    const int64_t H = h[k] * p, W = w[k] * p;
    Tensor layers[4];
    for (int i = 0; i < 4; ++i) {
      const Tensor tok = rows(kept[k][(size_t)hooks_[(size_t)i]], k);
      const int64_t Lc = dp.act_in[i].out;
      Tensor m = linear(dp.act_in[i], tok).transpose(0, 1).contiguous().reshape({1, Lc, h[k], w[k]});
      if (dp.has_resize[i]) m = conv(dp.resize[i], m);
      layers[i] = conv(dp.layer_rn[i], m);
    }
    Tensor path4 = fusion(dp.refine[3], layers[3], nullptr);
    if (path4.shape()[2] != layers[2].shape()[2] || path4.shape()[3] != layers[2].shape()[3])
      path4 = path4.slice(2, 0, layers[2].shape()[2]).slice(3, 0, layers[2].shape()[3]).contiguous();
    Tensor path3 = fusion(dp.refine[2], path4, &layers[2]);
    Tensor path2 = fusion(dp.refine[1], path3, &layers[1]);
    Tensor path1 = fusion(dp.refine[0], path2, &layers[0]);
    Tensor h0 = conv(dp.head0, path1);
    Tensor upd = upsample_bilinear(h0, 2 * h0.shape()[2], 2 * h0.shape()[3], true);
    Tensor d = conv(dp.head4, conv(dp.head2, upd), true);  // (1, 4, H, W)
    Tensor pts = Tensor::empty({H, W, 3}, DType::Float32, dev), conf = Tensor::empty({H, W}, DType::Float32, dev);
    gm::dense_post(d, pts, conf, depth_mode, (float)cfg_.conf_mode.vmin, (float)cfg_.conf_mode.vmax);
    // local features: MLP on concat(enc, dec) tokens, pixel-shuffled
    Tensor cat = concat({rows(enc[k], k).contiguous(), rows(f[k], k)}, 1);
    Tensor feat = linear(g.local_fc2[k], linear(g.local_fc1[k], cat, 1));
    Tensor desc = Tensor::empty({H, W, desc_dim_}, DType::Float32, dev);
    Tensor dconf = Tensor::empty({H, W}, DType::Float32, dev);
    gm::desc_post(feat, conf, desc, dconf, w[k], p, desc_dim_, cfg_.two_confs, (float)cfg_.desc_conf_mode.vmin,
                  (float)cfg_.desc_conf_mode.vmax);
    ViewOutput& v = *views[k];
    v.pts3d = pts.to_device(host);
    v.conf = conf.to_device(host);
    v.desc = desc.to_device(host);
    v.desc_conf = dconf.to_device(host);
    if (intermediates) {
      v.enc = rows(enc[k], k).to_device(host);
      v.dec_last = rows(f[k], k).to_device(host);
    }
    if (batch == 1) lap(k == 0 ? "head1" : "head2");
  }
  }
  if (batch > 1) lap("heads");
  timings.emplace_back("total", ms_since(t_start));
  for (auto& o : outs) o.timings_ms = timings;
  return outs;
}

}  // namespace mast3r
}  // namespace sc
