// MASt3R decoder block (CroCo's DecoderBlock): self-attention, cross-attention
// to the other view, MLP, each pre-norm with a residual.
#include "mast3r/model.h"

namespace sc {
namespace mast3r {

DecoderBlock::DecoderBlock(const nn::Params& p, const std::string& prefix, int64_t dim,
                           int64_t heads, float eps, DType wdt)
    : norm1(p, prefix + ".norm1", dim, eps),
      norm2(p, prefix + ".norm2", dim, eps),
      norm3(p, prefix + ".norm3", dim, eps),
      norm_y(p, prefix + ".norm_y", dim, eps),
      attn(p, prefix + ".attn", dim, heads, wdt),
      cross_attn(p, prefix + ".cross_attn", dim, heads, wdt),
      mlp(p, prefix + ".mlp", dim, wdt) {
  if (mlp.fc2.out != dim)
    throw ValueError("weights: tensor '" + prefix + ".mlp.fc2.weight' has " +
                     std::to_string(mlp.fc2.out) + " outputs, expected " + std::to_string(dim));
}

// x += attn(norm1(x)); x += cross_attn(norm2(x), norm_y(y)); x += mlp(norm3(x))
void DecoderBlock::forward(float* x, int64_t N, const int64_t* xpos, const float* y, int64_t M,
                           const int64_t* ypos, const nn::RopeTable& rope) const {
  const int64_t C = norm1.dim;
  Tensor h_t = Tensor::empty({N, C}), yn_t = Tensor::empty({M, C});
  float* h = h_t.data<float>();
  float* yn = yn_t.data<float>();
  norm1.forward(x, C, N, h, C);
  attn.forward_acc(h, 1, N, xpos, &rope, x);
  norm_y.forward(y, C, M, yn, C);
  norm2.forward(x, C, N, h, C);
  cross_attn.forward_acc(h, N, xpos, yn, M, ypos, &rope, x);
  norm3.forward(x, C, N, h, C);
  mlp.forward_acc(h, N, x);
}

}  // namespace mast3r
}  // namespace sc
