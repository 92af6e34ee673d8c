"""The rasterizer (100k Gaussians, 800x600, forward + backward) under every
CPU target this machine supports, beside the portable target as the anchor
(the auto-vectorised kernels of kernels/composite.h at the baseline ISA),
timed in the same run on the same inputs.

Run: python -m pytest bench/bench_cpu_targets.py -q -s
Prints portable time / target time (> 1: the target is faster) and the CPU
seconds of the two compositing stages (SPLATCORE_PROFILE=cpu, when set).
"""
import numpy as np
import pytest

import splatcore as sc
from splatcore._info import forced_cpu_target
from anchor import best_seconds, report_ratio
from bench_rasterize import random_scene

USABLE = [n for n, compiled, ok in sc._core.cpu_targets() if compiled and ok]
N, WIDTH, HEIGHT = 100_000, 800, 600


@pytest.fixture(scope="module")
def scene():
    means, quats, scales, opac, sh, viewmat, K = random_scene(N, WIDTH, HEIGHT)
    tensors = [sc.tensor(a, requires_grad=True) for a in (means, quats, scales, opac, sh)]

    def run():
        img, alpha, _ = sc.splat.rasterize(*tensors, viewmat, K, WIDTH, HEIGHT, sh_degree=3)
        (img.sum() + alpha.sum()).backward()

    return run


@pytest.mark.parametrize("target", USABLE)
def test_rasterize_per_target(benchmark, scene, target):
    with forced_cpu_target("portable"):
        anchor_s = best_seconds(scene, repeat=3)
    sc._core._stage_times(True)
    with forced_cpu_target(target):
        benchmark.pedantic(scene, rounds=3, iterations=1, warmup_rounds=1)
    stages = dict(sc._core._stage_times(True))
    report_ratio(benchmark, f"fwd+bwd {N} Gaussians {WIDTH}x{HEIGHT}, target {target}",
                 "portable", anchor_s)
    if stages:
        runs = 4  # warm-up + rounds
        print(f"  per call: composite {stages.get('raster.composite', np.nan) / runs * 1e3:.0f} ms, "
              f"backward tiles {stages.get('raster.bwd_tiles', np.nan) / runs * 1e3:.0f} ms")


STEP_STAGES = ["raster.project", "raster.features", "raster.bin", "raster.composite",
               "raster.bwd_tiles", "raster.bwd_gaussians", "ssim.forward", "ssim.backward",
               "optim.step"]


@pytest.fixture(scope="module")
def demo_trainer():
    """The demo's trainer (`splatcore demo`: 42 views at 128x96) trained past its
    last densification step (70% of 3000), so the Gaussian count no longer
    changes while the targets are timed."""
    from splatcore.cli import demo_config
    from splatcore.datasets.synthetic import make_dataset
    from splatcore.gaussians import Gaussians
    from splatcore.trainer import Trainer

    ds = make_dataset(n_views=48, width=128, height=96, seed=0)
    xyz, rgb = ds.points
    cfg = demo_config(3000)
    t = Trainer(ds.train, Gaussians.from_points(xyz, rgb, sh_degree=cfg.sh_degree), ds.scene_extent(), cfg)
    t.cfg.iters = cfg.densify.refine_stop + 1
    t.train(progress=False)
    return t


@pytest.mark.parametrize("target", USABLE)
def test_demo_step_per_target(demo_trainer, target):
    """CPU milliseconds per training step of the demo at its final Gaussian
    count, in total and per stage (SPLATCORE_PROFILE=cpu for the stages), under
    each target, the portable target timed in the same run as the anchor."""
    import time

    def per_step(name, steps=60):
        with forced_cpu_target(name):
            for _ in range(5):
                demo_trainer.train_step()
            sc._core._stage_times(True)
            t0 = time.process_time()
            for _ in range(steps):
                demo_trainer.train_step()
            cpu = (time.process_time() - t0) / steps
            return cpu, {k: v / steps for k, v in sc._core._stage_times(True)}

    anchor, _ = per_step("portable")
    cpu, stages = per_step(target)
    print(f"\ndemo step, {len(demo_trainer.g)} Gaussians, target {target}: {cpu * 1e3:.1f} CPU ms "
          f"(portable {anchor * 1e3:.1f}: {anchor / cpu:.2f}x)")
    if stages:
        print("  CPU ms per step: " + ", ".join(f"{k} {stages.get(k, float('nan')) * 1e3:.2f}"
                                                for k in STEP_STAGES))
