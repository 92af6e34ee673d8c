"""CPU rasterizer: forward and forward+backward on random scenes.

Run: python -m pytest bench/bench_rasterize.py -q -s
There is no CPU anchor library for Gaussian rasterization; the GPU suite will
put gsplat beside the CUDA backend. Reports Gaussians/s and megapixels/s.
"""
import numpy as np
import pytest

import splatcore as sc


def random_scene(n, width, height, seed=0):
    rng = np.random.default_rng(seed)
    means = rng.uniform(-1, 1, (n, 3)).astype(np.float32)
    means[:, 2] += 4.0
    quats = rng.standard_normal((n, 4)).astype(np.float32)
    scales = np.exp(rng.uniform(-5.0, -3.0, (n, 3))).astype(np.float32)
    opac = rng.uniform(0.1, 0.9, n).astype(np.float32)
    sh = (rng.standard_normal((n, 16, 3)) * 0.3).astype(np.float32)
    viewmat = np.eye(4, dtype=np.float32)
    f = 0.9 * width
    K = np.array([[f, 0, width / 2], [0, f, height / 2], [0, 0, 1]], np.float32)
    return means, quats, scales, opac, sh, viewmat, K


@pytest.mark.parametrize("width,height", [(800, 600), (1920, 1080)])
@pytest.mark.parametrize("n", [100_000, 1_000_000])
@pytest.mark.parametrize("backward", [False, True])
def test_rasterize_cpu(benchmark, n, width, height, backward):
    """Bar (issue 3): 100k Gaussians at 800x600, forward + backward under 0.5 s on 2 cores."""
    means, quats, scales, opac, sh, viewmat, K = random_scene(n, width, height)
    tensors = [sc.tensor(a, requires_grad=backward) for a in (means, quats, scales, opac, sh)]

    def run():
        img, alpha, info = sc.splat.rasterize(*tensors, viewmat, K, width, height, sh_degree=3)
        if backward:
            (img.sum() + alpha.sum()).backward()
        return info["n_isects"]

    isects = benchmark.pedantic(run, rounds=3, iterations=1, warmup_rounds=1)
    t = benchmark.stats.stats.min
    print(f"\n{'fwd+bwd' if backward else 'forward'} {n} Gaussians {width}x{height}: "
          f"{t * 1e3:.0f} ms, {n / t / 1e6:.2f} M Gaussians/s, "
          f"{width * height / t / 1e6:.1f} Mpx/s, {isects} intersections, {sc.num_threads()} threads")
