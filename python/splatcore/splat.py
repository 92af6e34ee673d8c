"""3D Gaussian Splatting: the differentiable rasterizer (C++ core)."""
from . import _core

__all__ = ["rasterize", "project", "spherical_harmonics"]


def rasterize(means, quats, scales, opacities, colors_or_sh, viewmat, K, width, height,
              sh_degree=None, background=None, near=0.01, far=1e10, render_mode="RGB",
              antialiased=False, tile_size=16):
    """Render N Gaussians through one pinhole camera.

    Parameters are *activated*: ``scales`` (N,3) positive, ``opacities`` (N,)
    in (0,1); ``quats`` (N,4) wxyz are normalised inside; ``means`` (N,3).
    ``colors_or_sh`` is (N,C) features when ``sh_degree`` is None, else (N,K,3)
    SH coefficients with K >= (sh_degree+1)^2 (colour = SH(dir) + 0.5, clamped
    at 0). ``viewmat`` (4,4) world-to-camera (OpenCV axes), ``K`` (3,3).
    ``render_mode``: "RGB", "D" (accumulated camera depth), "ED" (D / alpha),
    "RGB+D", "RGB+ED" (depth as the last channel). All arrays share one dtype,
    float32 or float64 (splatcore Tensors or NumPy arrays).

    Returns ``(image (H,W,C), alpha (H,W,1), info)``; gradients reach means,
    quats, scales, opacities, colors_or_sh, viewmat and background. ``info``:
    ``radii`` (N,2) int32 (0 = culled), ``depths`` (N,), ``n_isects``, and
    ``means2d`` / ``means2d_absgrad`` (N,2) whose ``.grad`` after backward()
    holds dL/d(2D mean) in pixels and its per-pixel absolute sum (densification).
    """
    return _core.rasterize(means, quats, scales, opacities, colors_or_sh, viewmat, K, width, height,
                           sh_degree, background, near, far, render_mode, antialiased, tile_size)


def project(means, quats, scales, opacities, viewmat, K, width, height, near=0.01, far=1e10,
            antialiased=False):
    """The projection stage alone (forward only): a dict with ``means2d`` (N,2),
    ``conics`` (N,3), ``depths`` (N,), ``compensations`` (N,) and ``radii`` (N,2)."""
    return _core.splat_project(means, quats, scales, opacities, viewmat, K, width, height, near,
                               far, antialiased)


def spherical_harmonics(degree, dirs, coeffs):
    """Colours max(SH(normalise(dirs)) + 0.5, 0) for dirs (N,3), coeffs (N,K,3) (forward only)."""
    return _core.splat_sh_colors(degree, dirs, coeffs)
