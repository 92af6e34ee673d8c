// MASt3R encoder: PatchEmbedDust3R + pre-norm ViT blocks with 2-D RoPE + enc_norm.
#include <algorithm>

#include "core/thread_pool.h"
#include "mast3r/model.h"

namespace sc {
namespace mast3r {

EncoderBlock::EncoderBlock(const nn::Params& p, const std::string& prefix, int64_t dim,
                           int64_t heads, float eps, DType wdt)
    : norm1(p, prefix + ".norm1", dim, eps),
      norm2(p, prefix + ".norm2", dim, eps),
      attn(p, prefix + ".attn", dim, heads, wdt),
      mlp(p, prefix + ".mlp", dim, wdt) {
  if (mlp.fc2.out != dim)
    throw ValueError("weights: tensor '" + prefix + ".mlp.fc2.weight' has " +
                     std::to_string(mlp.fc2.out) + " outputs, expected " + std::to_string(dim));
}

// x += attn(norm1(x)); x += mlp(norm2(x))
void EncoderBlock::forward(float* x, int64_t batch, int64_t N, const int64_t* pos,
                           const nn::RopeTable& rope) const {
  const int64_t BN = batch * N, C = norm1.dim;
  Tensor h_t = Tensor::empty({BN, C});
  float* h = h_t.data<float>();
  norm1.forward(x, C, BN, h, C);
  attn.forward_acc(h, batch, N, pos, &rope, x);
  norm2.forward(x, C, BN, h, C);
  mlp.forward_acc(h, BN, x);
}

// Patch embedding of B images (H, W, 3) as one linear map of each p x p patch,
// flattened (channel, row, column) like the conv weight (C, 3, p, p), then the
// blocks and enc_norm. x: (B * h * w, enc_dim) out.
void Mast3rModel::encode_into(const std::vector<Tensor>& imgs, int64_t h, int64_t w,
                              const int64_t* pos, const nn::RopeTable& rope, float* x) const {
  const int64_t B = (int64_t)imgs.size(), p = patch_, N = h * w, K = 3 * p * p, W = w * p;
  Tensor patches_t = Tensor::empty({B * N, K});
  float* patches = patches_t.data<float>();
  for (int64_t b = 0; b < B; ++b) {
    const float* img = imgs[b].data<float>();
    parallel_for(N, 4, [&](int64_t t0, int64_t t1) {
      for (int64_t t = t0; t < t1; ++t) {
        const int64_t py = t / w, px = t % w;
        float* row = patches + (b * N + t) * K;
        for (int64_t ky = 0; ky < p; ++ky) {
          const float* src = img + ((py * p + ky) * W + px * p) * 3;
          for (int64_t kx = 0; kx < p; ++kx)
            for (int64_t c = 0; c < 3; ++c) row[(c * p + ky) * p + kx] = src[kx * 3 + c];
        }
      }
    });
  }
  nn::linear_raw(patches, K, B * N, K, patch_w_.data<float>(), patch_b_.data<float>(), enc_dim_, x,
                 enc_dim_);
  for (const auto& blk : enc_blocks_) blk->forward(x, B, N, pos, rope);
  enc_norm_.forward(x, enc_dim_, B * N, x, enc_dim_);
}

}  // namespace mast3r
}  // namespace sc
