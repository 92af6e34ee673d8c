// MASt3R heads: the DPT head (pts3d + conf) and the local-feature MLP.
//
// DPT as in DUSt3R's DPTOutputAdapter_fix (Ranftl et al. 2021):
//   level i tokens (h*w, C_i) -> (C_i, h, w) -> act_postprocess[i]:
//     0: 1x1 conv, transposed conv k=s=4 (x4)    1: 1x1 conv, transposed conv k=s=2 (x2)
//     2: 1x1 conv                                 3: 1x1 conv, 3x3 conv stride 2 pad 1 (/2)
//   -> scratch.layer{i+1}_rn (3x3, no bias) to feature_dim
//   -> path4 = refinenet4(l4) cropped to l3's size; path3 = refinenet3(path4, l3);
//      path2 = refinenet2(path3, l2); path1 = refinenet1(path2, l1)
//      refinenet(x, skip) = out_conv(up2(rcu2(x + rcu1(skip)))), rcu(x) = x + conv2(relu(conv1(relu(x))))
//      up2: bilinear x2, align_corners=True
//   -> head: conv3x3, up2, conv3x3, relu, conv1x1 -> 4 channels.
//
// Computed with nn::conv2d_raw (im2col tiles + single-threaded GEMMs in
// parallel_for), with these rewrites of the same arithmetic:
//   * relu(x) before a conv is applied in its im2col; relu after, and the RCU's
//     residual add, in its epilogue;
//   * each refinenet's out_conv (1x1, with bias) runs before the x2 upsampling
//     instead of after: bilinear interpolation with align_corners is a convex
//     combination per output pixel (weights sum to 1), so it commutes with a
//     per-pixel affine map, and the 1x1 conv then costs a quarter;
//   * the head's last 1x1 conv is fused into the tiles of the 3x3 conv before it;
//   * act_postprocess[i].0 (1x1 on the tokens) is a linear on the (h*w, C) tokens.
#include <algorithm>
#include <cstring>

#include "core/thread_pool.h"
#include "mast3r/model.h"
#include "ops/ops.h"

namespace sc {
namespace mast3r {

namespace {

using Conv = DptHead::Conv;

// A conv weight `name` of shape (out, in, k, k) (out / in / k checked when >= 0).
Conv load_conv(const nn::Params& p, const std::string& prefix, int64_t in, int64_t out, int64_t k,
               bool bias, int64_t stride, int64_t pad, bool transposed = false) {
  Conv c;
  const std::string wn = prefix + ".weight";
  c.w = p.get(wn);
  const Shape& s = c.w.shape();
  // Conv2d weights are (out, in, kh, kw); ConvTranspose2d weights (in, out, kh, kw).
  const int64_t wi = transposed ? s.size() > 0 ? s[0] : -1 : s.size() > 1 ? s[1] : -1;
  const int64_t wo = transposed ? s.size() > 1 ? s[1] : -1 : s.size() > 0 ? s[0] : -1;
  bool ok = s.size() == 4 && s[2] == s[3] && (in < 0 || wi == in) && (out < 0 || wo == out) &&
            (k < 0 || s[2] == k);
  if (!ok)
    throw ValueError("weights: tensor '" + wn + "' has shape " + shape_str(s) + ", expected " +
                     (transposed ? "(in=" : "(out=") +
                     (transposed ? (in >= 0 ? std::to_string(in) : std::string("*"))
                                 : (out >= 0 ? std::to_string(out) : std::string("*"))) +
                     (transposed ? ", out=" : ", in=") +
                     (transposed ? (out >= 0 ? std::to_string(out) : std::string("*"))
                                 : (in >= 0 ? std::to_string(in) : std::string("*"))) +
                     ", k, k)" + (k >= 0 ? " with k = " + std::to_string(k) : std::string()));
  if (bias) c.b = p.get(prefix + ".bias", {wo});
  c.stride = stride < 0 ? s[2] : stride;  // transposed DPT resamplers: stride = kernel
  c.pad = pad < 0 ? s[2] / 2 : pad;
  c.transposed = transposed;
  return c;
}

int64_t conv_out(const Conv& c) { return c.transposed ? c.w.shape()[1] : c.w.shape()[0]; }

// A (C, H, W) float32 feature map.
struct Map {
  Tensor t;
  int64_t C = 0, H = 0, W = 0;
  const float* data() const { return t.data<float>(); }
  float* data() { return t.data<float>(); }
};

Map new_map(int64_t C, int64_t H, int64_t W) {
  Map m;
  m.t = Tensor::empty({C, H, W});
  m.C = C;
  m.H = H;
  m.W = W;
  return m;
}

struct ConvOpts {
  bool relu_in = false, relu_out = false;
  const Map* residual = nullptr;
  const Conv* then = nullptr;  // a 1x1 conv fused after (its input is this conv's output)
};

Map run(const Conv& c, const Map& x, const ConvOpts& o = {}) {
  const int64_t k = c.w.shape()[2];
  if (c.transposed) {
    if (c.stride != k || c.pad != 0 || o.relu_in || o.relu_out || o.residual || o.then)
      throw ValueError("mast3r: only non-overlapping transposed convs (kernel == stride) are supported");
    const int64_t O = c.w.shape()[1];
    Map y = new_map(O, x.H * k, x.W * k);
    nn::conv_transpose2d_k_eq_s_raw(x.data(), x.C, x.H, x.W, c.w.data<float>(), O, k,
                                    c.b.defined() ? c.b.data<float>() : nullptr, y.data());
    return y;
  }
  nn::Conv2dArgs a;
  a.x = x.data();
  a.C = x.C;
  a.H = x.H;
  a.W = x.W;
  a.w = c.w.data<float>();
  a.O = c.w.shape()[0];
  a.k = k;
  a.b = c.b.defined() ? c.b.data<float>() : nullptr;
  a.stride = c.stride;
  a.pad = c.pad;
  a.relu_in = o.relu_in;
  a.relu_out = o.relu_out;
  a.residual = o.residual ? o.residual->data() : nullptr;
  if (o.then) {
    a.w2 = o.then->w.data<float>();
    a.b2 = o.then->b.defined() ? o.then->b.data<float>() : nullptr;
    a.O2 = o.then->w.shape()[0];
  }
  const int64_t Ho = nn::conv_out_size(x.H, k, c.stride, c.pad), Wo = nn::conv_out_size(x.W, k, c.stride, c.pad);
  Map y = new_map(o.then ? a.O2 : a.O, Ho, Wo);
  nn::conv2d_raw(a, y.data());
  return y;
}

Map upsample2x(const Map& x) {
  Map y = new_map(x.C, 2 * x.H, 2 * x.W);
  nn::upsample2x_bilinear_raw(x.data(), x.C, x.H, x.W, y.data());
  return y;
}

// rcu(x) = x + conv2(relu(conv1(relu(x))))
Map rcu(const DptHead::Rcu& r, const Map& x) {
  ConvOpts o1;
  o1.relu_in = true;
  o1.relu_out = true;
  Map t = run(r.conv1, x, o1);
  ConvOpts o2;
  o2.residual = &x;
  return run(r.conv2, t, o2);
}

// out_conv(up2(rcu2(x + rcu1(skip)))), out_conv applied before the upsampling (see top)
Map fusion(const DptHead::Fusion& f, const Map& x, const Map* skip) {
  Map cur;
  if (skip) {
    cur = rcu(f.rcu1, *skip);
    float* d = cur.data();
    const float* a = x.data();
    const int64_t n = cur.C * cur.H * cur.W;
    parallel_for(n, 1 << 15, [&](int64_t i0, int64_t i1) {
      for (int64_t i = i0; i < i1; ++i) d[i] += a[i];
    });
  } else {
    cur = x;
  }
  cur = rcu(f.rcu2, cur);
  return upsample2x(run(f.out_conv, cur));
}

Map crop(const Map& x, int64_t H, int64_t W) {
  if (x.H == H && x.W == W) return x;
  Map y = new_map(x.C, H, W);
  for (int64_t c = 0; c < x.C; ++c)
    for (int64_t r = 0; r < H; ++r)
      std::memcpy(y.data() + (c * H + r) * W, x.data() + (c * x.H + r) * x.W, (size_t)W * sizeof(float));
  return y;
}

}  // namespace

namespace {

DptHead::Rcu load_rcu(const nn::Params& p, const std::string& prefix, int64_t F) {
  DptHead::Rcu r;
  r.conv1 = load_conv(p, prefix + ".conv1", F, F, 3, true, 1, 1);
  r.conv2 = load_conv(p, prefix + ".conv2", F, F, 3, true, 1, 1);
  return r;
}

}  // namespace

DptHead::DptHead(const nn::Params& p, const std::string& prefix,
                 const std::vector<int64_t>& token_dims) {
  const std::string ap = prefix + ".act_postprocess.";
  int64_t F = -1;
  for (int i = 0; i < 4; ++i) {
    const std::string li = ap + std::to_string(i);
    act_in[i] = load_conv(p, li + ".0", token_dims[i], -1, 1, true, 1, 0);
    const int64_t L = conv_out(act_in[i]);
    // DUSt3R's DPTOutputAdapter_fix: ConvTranspose2d(k = s = 4), ConvTranspose2d(k = s = 2),
    // nothing, Conv2d(k 3, stride 2, pad 1)
    if (i == 0 || i == 1) {
      act_resize[i] = load_conv(p, li + ".1", L, L, i == 0 ? 4 : 2, true, -1, 0, /*transposed=*/true);
      has_resize[i] = true;
    } else if (i == 3) {
      act_resize[i] = load_conv(p, li + ".1", L, L, 3, true, 2, 1);
      has_resize[i] = true;
    }
    layer_rn[i] = load_conv(p, prefix + ".scratch.layer" + std::to_string(i + 1) + "_rn", L, F, 3,
                            false, 1, 1);
    F = conv_out(layer_rn[i]);
  }
  for (int i = 0; i < 4; ++i) {
    const std::string rp = prefix + ".scratch.refinenet" + std::to_string(i + 1);
    // refinenet4 has no skip input: its resConfUnit1 is in the state dict but never runs
    refine[i].rcu1 = load_rcu(p, rp + ".resConfUnit1", F);
    refine[i].rcu2 = load_rcu(p, rp + ".resConfUnit2", F);
    refine[i].out_conv = load_conv(p, rp + ".out_conv", F, F, 1, true, 1, 0);
  }
  head0 = load_conv(p, prefix + ".head.0", F, -1, 3, true, 1, 1);
  head2 = load_conv(p, prefix + ".head.2", conv_out(head0), -1, 3, true, 1, 1);
  head4 = load_conv(p, prefix + ".head.4", conv_out(head2), -1, 1, true, 1, 0);
  out_channels = conv_out(head4);
}

Tensor DptHead::forward(const std::vector<const float*>& tokens, const std::vector<int64_t>& dims,
                        int64_t h, int64_t w) const {
  Map layers[4];
  const int64_t N = h * w;
  for (int i = 0; i < 4; ++i) {
    // act_postprocess[i].0, a 1x1 conv: a linear on the (h*w, C) tokens, transposed to (L, h, w)
    const Conv& c0 = act_in[i];
    const int64_t C = dims[i], L = c0.w.shape()[0];
    Tensor lin = Tensor::empty({N, L});
    nn::linear_raw(tokens[i], C, N, C, c0.w.data<float>(), c0.b.defined() ? c0.b.data<float>() : nullptr,
                   L, lin.data<float>(), L);
    Map m = new_map(L, h, w);
    const float* ld = lin.data<float>();
    float* md = m.data();
    parallel_for(L, std::max<int64_t>(1, 16384 / std::max<int64_t>(N, 1)), [&](int64_t c0_, int64_t c1) {
      for (int64_t c = c0_; c < c1; ++c)
        for (int64_t n = 0; n < N; ++n) md[c * N + n] = ld[n * L + c];
    });
    if (has_resize[i]) m = run(act_resize[i], m);
    layers[i] = run(layer_rn[i], m);
  }
  Map path4 = crop(fusion(refine[3], layers[3], nullptr), layers[2].H, layers[2].W);
  Map path3 = fusion(refine[2], path4, &layers[2]);
  Map path2 = fusion(refine[1], path3, &layers[1]);
  Map path1 = fusion(refine[0], path2, &layers[0]);
  Map up = upsample2x(run(head0, path1));
  ConvOpts o;
  o.relu_out = true;
  o.then = &head4;
  return run(head2, up, o).t;
}

LocalFeatureHead::LocalFeatureHead(const nn::Params& p, const std::string& prefix, int64_t in_dim,
                                   DType weight_dtype)
    : mlp(p, prefix, in_dim, weight_dtype) {}

}  // namespace mast3r
}  // namespace sc
