"""float32 matmul: splatcore (BLAS through splatcore.blas_name()) beside NumPy's `a @ b`.

Run: SPLATCORE_BUILD_DIR=build/linalg PYTHONPATH=python python -m pytest bench/bench_matmul.py -q -s

Each case times splatcore.matmul with pytest-benchmark, then times both
implementations on the same inputs in alternating blocks of ROUNDS calls
(best time of each, so a noisy shared machine hurts both alike), checks they agree,
and records GFLOP/s and the ratio splatcore / NumPy in benchmark.extra_info.
A table of all cases is printed at the end of the module. The bar is >= 0.8.
"""
import time

import numpy as np
import pytest

import splatcore as sc

ROUNDS = 5
_rows = []

CASES = [
    ("512^2", 512, 512, 512),
    ("1024^2", 1024, 1024, 1024),
    ("2048^2", 2048, 2048, 2048),
    ("ViT-L fc1 768x1024 @ 1024x4096", 768, 1024, 4096),
    ("ViT-L fc2 768x4096 @ 4096x1024", 768, 4096, 1024),
]


@pytest.fixture(scope="module", autouse=True)
def summary():
    yield
    if not _rows:
        return
    print(f"\n\nmatmul float32, splatcore BLAS: {sc.blas_name()}; {sc.num_threads()} threads; "
          f"NumPy {np.__version__}")
    print(f"{'case':34s} {'splatcore GFLOP/s':>18s} {'NumPy GFLOP/s':>14s} {'ratio':>7s}")
    for name, ours, theirs in _rows:
        print(f"{name:34s} {ours:18.1f} {theirs:14.1f} {ours / theirs:7.2f}")


def best_in_blocks(f, g, rounds, blocks=3):
    """min wall time of f and of g: blocks of `rounds` calls of one, then of the
    other, repeated. Blocks rather than strict alternation: NumPy and splatcore
    each run their own OpenBLAS thread pool, whose threads spin for a while
    after a call and would steal the cores of the other library's next call."""
    tf, tg = [], []
    for _ in range(blocks):
        for fn, acc in ((f, tf), (g, tg)):
            time.sleep(0.3)  # let the other pool's spinning threads time out
            fn()  # warm-up
            for _ in range(rounds):
                t0 = time.perf_counter()
                fn()
                acc.append(time.perf_counter() - t0)
    return min(tf), min(tg)


@pytest.mark.parametrize("name,m,k,n", CASES, ids=["512", "1024", "2048", "vitl_fc1", "vitl_fc2"])
def test_matmul_vs_numpy(benchmark, name, m, k, n):
    rng = np.random.default_rng(0)
    a = rng.standard_normal((m, k), dtype=np.float32)
    b = rng.standard_normal((k, n), dtype=np.float32)
    ta, tb = sc.from_numpy(a), sc.from_numpy(b)

    def ours():
        return sc.matmul(ta, tb)

    def theirs():
        return a @ b

    ref = theirs().astype(np.float64)
    out = ours().numpy()
    assert np.linalg.norm(out - ref) / np.linalg.norm(ref) < 1e-5

    benchmark.pedantic(ours, rounds=ROUNDS, iterations=1, warmup_rounds=1)
    t_ours, t_np = best_in_blocks(ours, theirs, ROUNDS)
    flops = 2.0 * m * n * k
    g_ours, g_np = flops / t_ours / 1e9, flops / t_np / 1e9
    benchmark.extra_info.update(gflops_splatcore=g_ours, gflops_numpy=g_np,
                                ratio_vs_numpy=g_ours / g_np, blas=sc.blas_name(),
                                threads=sc.num_threads())
    _rows.append((name, g_ours, g_np))
