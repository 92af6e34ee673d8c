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
#include <algorithm>

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

Tensor run(const Conv& c, const Tensor& x) {
  if (c.transposed) return conv_transpose2d(x, c.w, c.b, c.stride, c.stride, c.pad, c.pad);
  return conv2d(x, c.w, c.b, c.stride, c.stride, c.pad, c.pad);
}

Tensor rcu(const DptHead::Rcu& r, const Tensor& x) {
  Tensor y = run(r.conv1, relu(x));
  y = run(r.conv2, relu(y));
  return y + x;
}

Tensor fusion(const DptHead::Fusion& f, const Tensor& x, const Tensor* skip) {
  Tensor out = x;
  if (skip) out = out + rcu(f.rcu1, *skip);
  out = rcu(f.rcu2, out);
  out = upsample_bilinear(out, 2 * out.shape()[2], 2 * out.shape()[3], true);
  return run(f.out_conv, out);
}

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
    if (i == 0 || i == 1) {
      act_resize[i] = load_conv(p, li + ".1", L, L, -1, true, -1, 0, /*transposed=*/true);
      has_resize[i] = true;
    } else if (i == 3) {
      act_resize[i] = load_conv(p, li + ".1", L, L, -1, true, 2, -1);
      has_resize[i] = true;
    }
    layer_rn[i] = load_conv(p, prefix + ".scratch.layer" + std::to_string(i + 1) + "_rn", L, F, 3,
                            false, 1, 1);
    F = conv_out(layer_rn[i]);
  }
  for (int i = 0; i < 4; ++i) {
    const std::string rp = prefix + ".scratch.refinenet" + std::to_string(i + 1);
    if (i < 3) refine[i].rcu1 = load_rcu(p, rp + ".resConfUnit1", F);  // refinenet4 has no skip
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
  Tensor layers[4];
  for (int i = 0; i < 4; ++i) {
    // (h*w, C) tokens -> (1, C, h, w)
    const int64_t C = dims[i], N = h * w;
    Tensor m = Tensor::empty({1, C, h, w});
    float* d = m.data<float>();
    const float* t = tokens[i];
    parallel_for(C, std::max<int64_t>(1, 16384 / std::max<int64_t>(N, 1)), [&](int64_t c0, int64_t c1) {
      for (int64_t c = c0; c < c1; ++c)
        for (int64_t n = 0; n < N; ++n) d[c * N + n] = t[n * C + c];
    });
    Tensor l = run(act_in[i], m);
    if (has_resize[i]) l = run(act_resize[i], l);
    layers[i] = run(layer_rn[i], l);
  }
  Tensor path4 = fusion(refine[3], layers[3], nullptr)
                     .slice(2, 0, layers[2].shape()[2])
                     .slice(3, 0, layers[2].shape()[3]);
  Tensor path3 = fusion(refine[2], path4, &layers[2]);
  Tensor path2 = fusion(refine[1], path3, &layers[1]);
  Tensor path1 = fusion(refine[0], path2, &layers[0]);
  Tensor out = run(head0, path1);
  out = upsample_bilinear(out, 2 * out.shape()[2], 2 * out.shape()[3], true);
  out = relu(run(head2, out));
  return run(head4, out).contiguous();
}

LocalFeatureHead::LocalFeatureHead(const nn::Params& p, const std::string& prefix, int64_t in_dim)
    : mlp(p, prefix, in_dim) {}

}  // namespace mast3r
}  // namespace sc
