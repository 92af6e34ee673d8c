// Host side of the MASt3R inference GPU kernels (gpu/kernels/mast3r.h), used by
// cpp/mast3r/gpu_forward.cpp. float32 tensors on one GPU device; 2-D operands
// are (rows, cols) views whose columns are contiguous (any row stride), so q /
// k / v can be column slices of one fused qkv matrix. Nothing reads device
// memory on the host.
#pragma once
#include <cstdint>

#include "core/tensor.h"

namespace sc::gpu::mast3r {

// y = layer_norm(x) * w + b per row (x, y: (rows, n); may be the same tensor).
void layer_norm(const Tensor& x, const Tensor& w, const Tensor& b, float eps, const Tensor& y);
// 2-D RoPE in place on the first `heads` heads (head_dim = 4 n) of each row of
// x; pos (rows, 2) int32 on the device; cos_t / sin_t (npos, n) float32 there.
// Positions outside [0, npos) are clamped (callers check them).
void rope2d(const Tensor& x, int64_t heads, int64_t head_dim, const Tensor& pos, const Tensor& cos_t,
            const Tensor& sin_t);
// out = softmax(q k^T / sqrt(D)) v per (item, head), fused with an online
// softmax; q / out (batch Nq, heads D), k / v (batch Nk, heads D). D <= 128.
void attention(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& out, int64_t batch,
               int64_t Nq, int64_t Nk, int64_t heads, int64_t D);
// y = act(t + b) (act 0 none, 1 GELU), or y += t + b with accumulate; t
// contiguous (rows, cols), y (rows, cols) (may be t itself), b (cols,) or undefined.
void bias_act(const Tensor& t, const Tensor& b, const Tensor& y, int act, bool accumulate);
// y (C, H, W) contiguous = b per channel (b undefined: 0) + res (undefined: none).
void channel_bias(const Tensor& y, const Tensor& b, const Tensor& res);
// d (4, H, W) contiguous -> pts (H, W, 3), conf (H, W).
void dense_post(const Tensor& d, const Tensor& pts, const Tensor& conf, int mode, float cmin, float cmax);
// feat (h w, (D + two) p^2) -> desc (H, W, D), dconf (H, W) (conf copied when !two).
void desc_post(const Tensor& feat, const Tensor& conf, const Tensor& desc, const Tensor& dconf, int64_t w,
               int64_t p, int64_t D, bool two, float cmin, float cmax);

}  // namespace sc::gpu::mast3r
