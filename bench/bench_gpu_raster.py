"""The GPU rasterizer beside gsplat on the same GPU, in the same run (issue 14's
bar: forward + backward in <= 0.8x gsplat's time at 100k Gaussians 800x600 and
1M Gaussians 1920x1080, SH degree 3).

Run on a CUDA machine, with gsplat on the path (../shared/gpu/gsplat_install.sh):
  SPLATCORE_BUILD_DIR=build/h200 PYTHONPATH=python python -m pytest bench/bench_gpu_raster.py -q -s
The scenes follow ../shared/gpu/gsplat_bench.py (its distributions and seeds).
Timing: median of 30 CUDA-synchronised repetitions, after 5 warm-up calls;
splatcore's time includes its one host read per forward (the intersection count).
Without gsplat only splatcore's times are printed.
"""
import json
import math
import os

import numpy as np
import pytest

import splatcore as sc
from anchor import median_seconds

if sc.device_count("cuda") == 0:
    pytest.skip("no CUDA device to measure on", allow_module_level=True)
try:
    import torch
    from gsplat import rasterization
except ImportError:  # the anchor is optional; ours is still timed
    torch = rasterization = None

RESULTS = []


def rand_rot(rng, max_angle):
    axis = rng.normal(size=3)
    axis /= np.linalg.norm(axis)
    a = rng.uniform(-max_angle, max_angle)
    K = np.array([[0, -axis[2], axis[1]], [axis[2], 0, -axis[0]], [-axis[1], axis[0], 0]])
    return np.eye(3) + math.sin(a) * K + (1 - math.cos(a)) * K @ K


def bench_scene(n, W, H):
    """gsplat_bench.py's scene: seed 7, depths 1.5-8, log-scales in [-5, -2.5], SH degree 3."""
    rng = np.random.default_rng(7)
    means = np.stack([rng.uniform(-1.6, 1.6, n), rng.uniform(-1.2, 1.2, n), rng.uniform(1.5, 6.0, n)], 1)
    means[: max(1, n // 50), 2] = rng.uniform(-2.0, 0.05, max(1, n // 50))
    scales = np.exp(rng.uniform(-3.5, -1.2, (n, 3)))
    quats = rng.normal(size=(n, 4))
    opac = rng.uniform(0.15, 0.97, n)
    sh = rng.normal(0, 0.25, (n, 16, 3))
    sh[:, 0, :] = rng.normal(0, 1.0, (n, 3))
    f = rng.uniform(0.8, 1.3) * W
    K = np.array([[f, 0, W / 2 + rng.uniform(-3, 3)], [0, f * rng.uniform(0.95, 1.05), H / 2 + rng.uniform(-3, 3)],
                  [0, 0, 1]])
    view = np.eye(4)
    view[:3, :3] = rand_rot(rng, 0.15)
    view[:3, 3] = rng.normal(0, 0.2, 3)
    means[:, 2] = np.random.default_rng(7).uniform(1.5, 8.0, n)
    scales = np.exp(np.random.default_rng(8).uniform(-5.0, -2.5, (n, 3)))
    return dict(means=means, quats=quats, scales=scales, opacities=opac, sh=sh, K=K, viewmat=view)


def report(case, ours, theirs, extra):
    r = {"case": case, "splatcore_ms": ours * 1e3, "gsplat_ms": None if theirs is None else theirs * 1e3,
         "gsplat_over_splatcore": None if theirs is None else theirs / ours, **extra}
    RESULTS.append(r)
    ratio = "" if theirs is None else f", gsplat {theirs * 1e3:.3f} ms, splatcore/gsplat {ours / theirs:.2f}x"
    print(f"\n[gpu-raster] {case}: splatcore {ours * 1e3:.3f} ms{ratio} {extra}")
    out = os.environ.get("SPLATCORE_BENCH_JSON")
    if out:
        with open(out, "w") as f:
            json.dump(RESULTS, f, indent=1)


@pytest.mark.parametrize("n,W,H", [(100_000, 800, 600), (1_000_000, 1920, 1080)])
def test_rasterize_vs_gsplat(n, W, H):
    s = bench_scene(n, W, H)
    t = {k: sc.tensor(s[k].astype(np.float32), device="cuda", requires_grad=True)
         for k in ("means", "quats", "scales", "opacities", "sh")}
    view = sc.tensor(s["viewmat"].astype(np.float32), device="cuda")
    K = sc.tensor(s["K"].astype(np.float32))

    def ours_fwd():
        return sc.splat.rasterize(t["means"], t["quats"], t["scales"], t["opacities"], t["sh"], view, K, W, H,
                                  sh_degree=3)

    def ours_step():
        img, _, _ = ours_fwd()
        img.sum().backward()

    def sync():
        sc.synchronize("cuda")

    with sc.no_grad():
        img, _, info = ours_fwd()
        n_isects = int(info["n_isects"])
        fwd = median_seconds(ours_fwd, sync, reps=30, warmup=5)
    step = median_seconds(ours_step, sync, reps=30, warmup=5)
    g_fwd = g_step = None
    if rasterization is not None:
        tt = {k: torch.tensor(s[k], dtype=torch.float32, device="cuda", requires_grad=True)
              for k in ("means", "quats", "scales", "opacities", "sh")}
        tK = torch.tensor(s["K"], dtype=torch.float32, device="cuda")[None]
        tv = torch.tensor(s["viewmat"], dtype=torch.float32, device="cuda")[None]

        def g_forward():
            return rasterization(tt["means"], tt["quats"], tt["scales"], tt["opacities"], tt["sh"], tv, tK, W, H,
                                 sh_degree=3, packed=False)

        def g_train():
            c, _, _ = g_forward()
            c.sum().backward()

        with torch.no_grad():
            c, _, meta = g_forward()
            g_fwd = median_seconds(g_forward, torch.cuda.synchronize, reps=30, warmup=5)
        g_step = median_seconds(g_train, torch.cuda.synchronize, reps=30, warmup=5)
        # the same image (up to gsplat's alpha clamp 0.999 vs 0.99 and float32 rounding)
        diff = float(np.abs(c[0].detach().cpu().numpy() - img.cpu().numpy()).mean())
        print(f"\n[gpu-raster] mean |splatcore - gsplat| per pixel channel: {diff:.2e}; "
              f"intersections splatcore {n_isects}, gsplat {int(meta['isect_ids'].numel())}")
    extra = {"gaussians": n, "size": f"{W}x{H}", "intersections": n_isects}
    report(f"forward {n} {W}x{H}", fwd, g_fwd, extra)
    report(f"forward+backward {n} {W}x{H}", step, g_step, extra)
