"""SSIM (3DGS definition) on an 800x600x3 float32 image pair, beside SciPy.

Run: python -m pytest bench/bench_ssim.py -q -s
splatcore is timed with pytest-benchmark; the anchor is a NumPy/SciPy SSIM
(scipy.ndimage.correlate1d: the same normalised 11-tap window along H then W,
zero padding, float32 in and out) timed on the same inputs in the same run,
best of several runs. SciPy has no backward, so forward+backward is reported
against the SciPy forward alone. Prints the ratio SciPy time / splatcore time
(> 1: splatcore is faster). SciPy runs on one core, so splatcore is timed both
with its default thread count and with one thread.
"""

import numpy as np
import pytest
from scipy.ndimage import correlate1d

import splatcore as sc
from anchor import best_seconds, report_ratio
from splatcore import loss

H, W, C = 600, 800, 3


def window_1d():
    k = np.arange(11) - 5
    g = np.exp(-(k**2) / (2 * 1.5**2))
    return g / g.sum()


def scipy_ssim(a, b, win=window_1d()):
    def blur(z):  # separable, zero padding ("same" size), per channel (axis 2 untouched)
        return correlate1d(correlate1d(z, win, axis=0, mode="constant"), win, axis=1,
                           mode="constant")

    mu1, mu2 = blur(a), blur(b)
    s11 = blur(a * a) - mu1 * mu1
    s22 = blur(b * b) - mu2 * mu2
    s12 = blur(a * b) - mu1 * mu2
    c1, c2 = 0.01**2, 0.03**2
    m = ((2 * mu1 * mu2 + c1) * (2 * s12 + c2)) / ((mu1 * mu1 + mu2 * mu2 + c1) * (s11 + s22 + c2))
    return float(m.mean(dtype=np.float64))






@pytest.fixture(params=["all", 1], ids=["threads=all", "threads=1"])
def threads(request):
    saved = sc.num_threads()
    if request.param != "all":
        sc.set_num_threads(request.param)
    yield sc.num_threads()
    sc.set_num_threads(saved)


@pytest.fixture(scope="module")
def images():
    rng = np.random.default_rng(0)
    a = rng.random((H, W, C), dtype=np.float32)
    b = np.clip(a + 0.1 * rng.standard_normal((H, W, C)), 0, 1).astype(np.float32)
    return a, b


def test_ssim_forward(benchmark, images, threads):
    a, b = images
    ta, tb = sc.tensor(a), sc.tensor(b)
    assert abs(loss.ssim(ta, tb).item() - scipy_ssim(a, b)) < 1e-5
    benchmark(lambda: loss.ssim(ta, tb))
    report_ratio(benchmark, f"SSIM forward {H}x{W}x{C} float32", "SciPy", best_seconds(lambda: scipy_ssim(a, b)))


def test_ssim_forward_backward(benchmark, images, threads):
    a, b = images
    ta, tb = sc.tensor(a, requires_grad=True), sc.tensor(b)

    def ours():
        ta.grad = None
        loss.ssim(ta, tb).backward()

    ours()
    assert ta.grad is not None and ta.grad.shape == (H, W, C)
    benchmark(ours)
    report_ratio(benchmark, f"SSIM forward+backward (grad w.r.t. img1) {H}x{W}x{C} float32",
                 "SciPy forward", best_seconds(lambda: scipy_ssim(a, b)))
