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
