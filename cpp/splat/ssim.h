// The image losses of 3DGS training (CPU backend): SSIM as one fused
// differentiable op, L1, PSNR and the combined 3DGS loss.
//
// Images are (H, W, C) or batched (B, H, W, C), float32 or float64, the
// rasterizer's output layout; both arguments share shape and dtype.
#pragma once
#include "core/tensor.h"

namespace sc {

// Mean SSIM over all pixels, channels (and images) as 3DGS's ssim(): 11x11
// Gaussian window (sigma 1.5), C1 = 0.01^2, C2 = 0.03^2, per-channel local
// statistics with zero padding ("same" size). Returns a 0-d tensor;
// differentiable w.r.t. both images (hand-written backward). Images smaller
// than the window are fine.
Tensor ssim(const Tensor& img1, const Tensor& img2);

// Mean absolute error (differentiable, composed from abs and mean).
Tensor l1_loss(const Tensor& img1, const Tensor& img2);

// -10 log10(MSE) for images in [0, 1] (forward only, accumulated in float64):
// a 0-d tensor for (H, W, C), one value per image, shape (B,), when batched.
// Identical images give +inf.
Tensor psnr(const Tensor& img1, const Tensor& img2);

// (1 - lambda) L1(render, target) + lambda (1 - SSIM(render, target)),
// lambda in [0, 1] (3DGS default 0.2). Differentiable.
Tensor gs_loss(const Tensor& render, const Tensor& target, double lambda_ssim = 0.2);

}  // namespace sc
