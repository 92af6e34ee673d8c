"""GPU tensor ops beside PyTorch on the same GPU, in the same run (issue 13's
bars: elementwise and reductions >= 0.9x torch's bandwidth, matmul >= 0.95x
torch.matmul per precision, fused Adam >= 1.0x torch's fused Adam, a tiny op
under 10 us of host time).

Run on a CUDA machine:
  SPLATCORE_BUILD_DIR=build/h200 PYTHONPATH=python python -m pytest bench/bench_gpu_ops.py -q -s
Each case prints splatcore's time, torch's, and the ratio torch / splatcore
(> 1: splatcore is faster). Timing: median of CUDA-synchronised repetitions.
Skips without a CUDA device or without torch (the anchor).
"""
import json
import os
import time

import numpy as np
import pytest

import splatcore as sc
from anchor import median_seconds

torch = pytest.importorskip("torch")
if sc.device_count("cuda") == 0 or not torch.cuda.is_available():
    pytest.skip("no CUDA device (and torch with CUDA) to measure on", allow_module_level=True)

HBM_TBPS = 4.8  # H200's HBM3e peak
RESULTS = []


def sc_sync():
    sc.synchronize("cuda")


def torch_sync():
    torch.cuda.synchronize()


def report(name, ours, theirs, extra=""):
    ratio = theirs / ours
    RESULTS.append({"case": name, "splatcore_s": ours, "torch_s": theirs, "torch_over_splatcore": ratio,
                    "note": extra})
    print(f"\n[gpu-ops] {name}: splatcore {ours * 1e3:.3f} ms, torch {theirs * 1e3:.3f} ms, "
          f"ratio {ratio:.2f} {extra}")
    out = os.environ.get("SPLATCORE_BENCH_JSON")
    if out:
        with open(out, "w") as f:
            json.dump(RESULTS, f, indent=1)


N = 64 * 1024 * 1024


def test_add_64m():
    a = sc.randn((N,), seed=1, device="cuda")
    b = sc.randn((N,), seed=2, device="cuda")
    ta, tb = torch.from_dlpack(a), torch.from_dlpack(b)
    ours = median_seconds(lambda: a + b, sc_sync)
    theirs = median_seconds(lambda: ta + tb, torch_sync)
    gbs = 3 * 4 * N / ours / 1e9
    assert np.allclose((a + b).numpy()[:1000], (ta + tb).cpu().numpy()[:1000])
    report("add 64M float32", ours, theirs, f"({gbs:.0f} GB/s, {gbs / 1e3 / HBM_TBPS:.0%} of HBM peak)")


def test_exp_64m():
    a = sc.randn((N,), seed=10, device="cuda")
    ta = torch.from_dlpack(a)
    ours = median_seconds(lambda: sc.exp(a), sc_sync)
    theirs = median_seconds(lambda: torch.exp(ta), torch_sync)
    gbs = 2 * 4 * N / ours / 1e9
    report("exp 64M float32", ours, theirs, f"({gbs:.0f} GB/s, {gbs / 1e3 / HBM_TBPS:.0%} of HBM peak)")


def test_sum_64m():
    a = sc.randn((N,), seed=3, device="cuda")
    ta = torch.from_dlpack(a)
    ours = median_seconds(lambda: a.sum(), sc_sync)
    theirs = median_seconds(lambda: ta.sum(), torch_sync)
    assert abs(a.sum().item() - ta.double().sum().item()) < 1e-3 * N ** 0.5
    gbs = 4 * N / ours / 1e9
    report("sum 64M float32", ours, theirs, f"({gbs:.0f} GB/s)")


def test_softmax_4096():
    a = sc.randn((4096, 4096), seed=4, device="cuda")
    ta = torch.from_dlpack(a)
    ours = median_seconds(lambda: sc.softmax(a, axis=-1), sc_sync)
    theirs = median_seconds(lambda: torch.softmax(ta, dim=-1), torch_sync)
    diff = (torch.from_dlpack(sc.softmax(a, axis=-1)) - torch.softmax(ta, dim=-1)).abs().max().item()
    assert diff < 1e-6
    report("softmax (4096, 4096)", ours, theirs)


@pytest.mark.parametrize("precision", ["float32", "tf32", "bfloat16"])
def test_matmul_4096(precision):
    n = 4096
    a = sc.randn((n, n), seed=5, device="cuda")
    b = sc.randn((n, n), seed=6, device="cuda")
    if precision == "bfloat16":
        a, b = a.astype("bfloat16"), b.astype("bfloat16")
    ta, tb = torch.from_dlpack(a) if precision != "bfloat16" else torch.from_dlpack(a.astype("float32")).bfloat16(), \
        torch.from_dlpack(b) if precision != "bfloat16" else torch.from_dlpack(b.astype("float32")).bfloat16()
    sc.set_matmul_precision("high" if precision == "tf32" else "highest")
    torch.backends.cuda.matmul.allow_tf32 = precision == "tf32"
    try:
        ours = median_seconds(lambda: a @ b, sc_sync, reps=10)
        theirs = median_seconds(lambda: ta @ tb, torch_sync, reps=10)
    finally:
        sc.set_matmul_precision("highest")
        torch.backends.cuda.matmul.allow_tf32 = False
    tflops = 2 * n ** 3 / ours / 1e12
    report(f"matmul 4096^3 {precision}", ours, theirs, f"({tflops:.0f} TFLOP/s; {sc._core._gpu_gemm_library()})")


def test_adam_10m():
    n = 10_000_000
    p = sc.randn((n,), seed=7, device="cuda")
    p.requires_grad = True
    p.grad = sc.randn((n,), seed=8, device="cuda")
    opt = sc.optim.Adam([p], lr=1e-3)
    tp = torch.randn(n, device="cuda", requires_grad=True)
    tp.grad = torch.randn(n, device="cuda")
    topt = torch.optim.Adam([tp], lr=1e-3, fused=True)
    ours = median_seconds(opt.step, sc_sync)
    theirs = median_seconds(topt.step, torch_sync)
    report("Adam step 10M float32 (torch fused=True)", ours, theirs)


def test_tiny_op_host_time():
    a = sc.ones((1,), device="cuda")
    b = sc.ones((1,), device="cuda")
    ta, tb = torch.ones(1, device="cuda"), torch.ones(1, device="cuda")
    reps = 10_000
    for x, y, sync in [(a, b, sc_sync), (ta, tb, torch_sync)]:
        for _ in range(100):
            x + y
        sync()
    t0 = time.perf_counter()
    for _ in range(reps):
        a + b
    ours = (time.perf_counter() - t0) / reps
    sc_sync()
    t0 = time.perf_counter()
    for _ in range(reps):
        ta + tb
    theirs = (time.perf_counter() - t0) / reps
    torch_sync()
    report("tiny add (1 element), host time per op", ours, theirs, f"({ours * 1e6:.2f} us)")


@pytest.mark.parametrize("n", [1_000_000, 10_000_000, 100_000_000])
def test_radix_sort_pairs(n):
    """Our reduce-then-scan radix sort beside CUB (torch.sort, stable) on the same keys: 31-bit
    values, so that torch sorts them as int32 (its index output is the value array)."""
    k = np.random.default_rng(9).integers(0, 2 ** 31, n, dtype=np.int64)
    keys = sc.tensor(k.astype(np.uint32), device="cuda")
    values = sc.arange(n, dtype="uint32", device="cuda")
    tk = torch.from_numpy(k.astype(np.int32)).cuda()
    ours = median_seconds(lambda: sc.sort.radix_sort_pairs(keys, values, 0, 31), sc_sync, reps=10)
    theirs = median_seconds(lambda: torch.sort(tk, stable=True), torch_sync, reps=10)
    ko, vo = sc.sort.radix_sort_pairs(keys, values, 0, 31)
    ref = torch.sort(tk, stable=True)
    assert np.array_equal(ko.numpy()[:1000].astype(np.int64), ref.values.cpu().numpy()[:1000])
    assert np.array_equal(vo.numpy()[-1000:].astype(np.int64), ref.indices.cpu().numpy()[-1000:])
    report(f"radix sort pairs {n // 1000000}M 31-bit keys (torch.sort stable int32, CUB)", ours, theirs)
