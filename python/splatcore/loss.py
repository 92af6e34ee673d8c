"""Image losses of 3DGS training (C++ core): SSIM, L1, PSNR and the 3DGS loss.

Images are (H, W, C) or batched (B, H, W, C) — the rasterizer's output layout —
float32 or float64, as splatcore Tensors or NumPy arrays; both arguments share
shape and dtype (ValueError / TypeError otherwise). Results are 0-d Tensors
(``.item()`` for a float).
"""
from . import _core

__all__ = ["ssim", "l1", "psnr", "gs_loss"]


def ssim(a, b):
    """Mean SSIM as in 3DGS: 11x11 Gaussian window (sigma 1.5), C1 = 0.01^2,
    C2 = 0.03^2, per-channel local statistics with zero padding ("same" size),
    averaged over pixels, channels and images. Differentiable w.r.t. both
    images (one fused op with a hand-written backward)."""
    return _core.ssim(a, b)


def l1(a, b):
    """Mean absolute error (differentiable)."""
    return _core.l1_loss(a, b)


def psnr(a, b):
    """-10 log10(MSE) for images in [0, 1], computed in float64 (forward only).
    A 0-d Tensor for (H, W, C); one value per image, shape (B,), for
    (B, H, W, C). Identical images give inf."""
    return _core.psnr(a, b)


def gs_loss(render, target, lambda_ssim=0.2):
    """The 3DGS training loss ``(1 - lambda_ssim) * L1 + lambda_ssim * (1 - SSIM)``
    (differentiable; ``lambda_ssim`` in [0, 1])."""
    return _core.gs_loss(render, target, lambda_ssim)
