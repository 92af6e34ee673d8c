"""Image losses (splatcore.loss): SSIM, L1, PSNR and the 3DGS loss.

The SSIM reference is written here independently in float64 with SciPy: the
2-D 11x11 Gaussian window (sigma 1.5) applied per channel with
scipy.signal.convolve2d(mode="same", zero fill), as 3DGS's conv2d(padding=5).

Tolerances (relative, ||out - ref|| / ||ref||):
* SSIM float64 vs reference: < 1e-10; float32: < 1e-5 (ARCHITECTURE.md).
* backward vs central finite differences in float64: < 1e-4 (helpers.check_grad).
* float32 backward vs float64 backward: < 1e-4.
* L1 / PSNR vs NumPy: < 1e-12 (float64), < 1e-5 (float32).
"""
import math

import numpy as np
import pytest
from helpers import check_grad, rel_err
from scipy.signal import convolve2d

import splatcore as sc
from splatcore import loss

C1, C2 = 0.01**2, 0.03**2


def window_2d():
    k = np.arange(11) - 5
    g = np.exp(-(k**2) / (2 * 1.5**2))
    g /= g.sum()
    return np.outer(g, g)


def ssim_map_ref(a, b):
    """Per-pixel SSIM map, float64, (B, H, W, C) or (H, W, C) like the input."""
    a = np.asarray(a, np.float64)
    b = np.asarray(b, np.float64)
    batched = a.ndim == 4
    if not batched:
        a, b = a[None], b[None]
    win = window_2d()

    def blur(z):
        return convolve2d(z, win, mode="same", boundary="fill", fillvalue=0.0)

    out = np.empty_like(a)
    for i in range(a.shape[0]):
        for c in range(a.shape[3]):
            x, y = a[i, :, :, c], b[i, :, :, c]
            mu1, mu2 = blur(x), blur(y)
            s11 = blur(x * x) - mu1**2
            s22 = blur(y * y) - mu2**2
            s12 = blur(x * y) - mu1 * mu2
            out[i, :, :, c] = ((2 * mu1 * mu2 + C1) * (2 * s12 + C2)) / (
                (mu1**2 + mu2**2 + C1) * (s11 + s22 + C2))
    return out if batched else out[0]


def ssim_ref(a, b):
    return float(np.mean(ssim_map_ref(a, b)))


def image_pair(rng, shape, kind):
    a = rng.random(shape)
    if kind == "independent":
        b = rng.random(shape)
    else:  # a render close to its target, as in training
        b = np.clip(a + 0.1 * rng.standard_normal(shape), 0.0, 1.0)
    return a, b


SHAPES = [(32, 48, 3), (31, 17, 3), (11, 11, 1), (7, 5, 3), (1, 1, 1), (3, 40, 2), (2, 20, 13, 3)]


# ---- SSIM forward ---------------------------------------------------------------------
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("kind", ["independent", "close"])
def test_ssim_forward_float64(rng, shape, kind):
    a, b = image_pair(rng, shape, kind)
    out = loss.ssim(a, b)
    assert out.shape == () and out.dtype == "float64"
    assert rel_err(out.item(), ssim_ref(a, b)) < 1e-10


@pytest.mark.parametrize("shape", SHAPES + [(120, 160, 3)])
@pytest.mark.parametrize("kind", ["independent", "close"])
def test_ssim_forward_float32(rng, shape, kind):
    a, b = image_pair(rng, shape, kind)
    a32, b32 = a.astype(np.float32), b.astype(np.float32)
    out = loss.ssim(a32, b32)
    assert out.dtype == "float32"
    # reference on the float32-rounded inputs: measures the arithmetic only
    assert rel_err(out.item(), ssim_ref(a32, b32)) < 1e-5


def test_ssim_batched_is_mean_over_images(rng):
    a, b = image_pair(rng, (3, 9, 14, 2), "close")
    per = [loss.ssim(a[i], b[i]).item() for i in range(3)]
    assert rel_err(loss.ssim(a, b).item(), np.mean(per)) < 1e-12


def test_ssim_identical_is_one(rng):
    for shape in [(16, 12, 3), (5, 4, 1), (2, 8, 8, 3)]:
        a = rng.random(shape)
        assert abs(loss.ssim(a, a).item() - 1.0) < 1e-12
        a32 = a.astype(np.float32)
        assert abs(loss.ssim(a32, a32).item() - 1.0) < 1e-6
    z = np.zeros((6, 6, 3))
    assert abs(loss.ssim(z, z).item() - 1.0) < 1e-12  # constant images: C1, C2 keep it defined


def test_ssim_symmetric_and_noncontiguous(rng):
    a, b = image_pair(rng, (10, 12, 3), "independent")
    assert rel_err(loss.ssim(a, b).item(), loss.ssim(b, a).item()) < 1e-14
    # channel-first data viewed as (H, W, C): a strided Tensor view
    t = sc.tensor(np.ascontiguousarray(a.transpose(2, 0, 1))).permute([1, 2, 0])
    assert rel_err(loss.ssim(t, b).item(), ssim_ref(a, b)) < 1e-10


def test_ssim_independent_of_thread_count(rng):
    a, b = image_pair(rng, (64, 48, 3), "close")
    a, b = a.astype(np.float32), b.astype(np.float32)
    n = sc.num_threads()
    try:
        sc.set_num_threads(1)
        one = loss.ssim(a, b).item()
    finally:
        sc.set_num_threads(n)
    assert loss.ssim(a, b).item() == one


def test_ssim_multi_chunk_rows(rng):
    """Wide enough rows that the row loop is split into chunks, some starting
    mid-image and some spanning two images of the batch (each chunk recomputes
    its halo rows): value and gradient identical for any thread count, value
    against the reference, gradient against a directional finite difference."""
    a, b = image_pair(rng, (3, 37, 180, 3), "close")
    ref = ssim_ref(a, b)
    n = sc.num_threads()
    results = []
    try:
        for nt in (1, 2, 3, 4):
            sc.set_num_threads(nt)
            ta = sc.tensor(a, requires_grad=True)
            tb = sc.tensor(b, requires_grad=True)
            out = loss.ssim(ta, tb)
            out.backward()
            results.append((out.item(), ta.grad.numpy().copy(), tb.grad.numpy().copy()))
    finally:
        sc.set_num_threads(n)
    for v, ga, gb in results[1:]:
        assert v == results[0][0]
        assert np.array_equal(ga, results[0][1]) and np.array_equal(gb, results[0][2])
    assert rel_err(results[0][0], ref) < 1e-10
    va, vb = rng.standard_normal(a.shape), rng.standard_normal(b.shape)
    eps = 1e-6
    fd = (loss.ssim(a + eps * va, b + eps * vb).item() -
          loss.ssim(a - eps * va, b - eps * vb).item()) / (2 * eps)
    analytic = np.sum(results[0][1] * va) + np.sum(results[0][2] * vb)
    assert rel_err(analytic, fd) < 1e-6


def test_ssim_accepts_tensors_and_arrays(rng):
    a, b = image_pair(rng, (8, 9, 3), "close")
    ref = ssim_ref(a, b)
    for x, y in [(sc.tensor(a), sc.tensor(b)), (a, sc.tensor(b)), (sc.tensor(a), b)]:
        out = loss.ssim(x, y)
        assert isinstance(out, sc.Tensor)
        assert rel_err(out.item(), ref) < 1e-10


# ---- SSIM backward --------------------------------------------------------------------
@pytest.mark.parametrize("shape", [(13, 9, 3), (4, 3, 2), (2, 6, 7, 2), (12, 1, 1)])
def test_ssim_backward_finite_differences(rng, shape):
    a, b = image_pair(rng, shape, "independent")
    check_grad(loss.ssim, [a, b], tol=1e-4)


def test_ssim_backward_close_images(rng):
    a, b = image_pair(rng, (13, 9, 3), "close")
    check_grad(loss.ssim, [a, b], tol=1e-4)


def test_ssim_backward_one_input(rng):
    a, b = image_pair(rng, (9, 10, 3), "close")
    ta = sc.tensor(a, requires_grad=True)
    tb = sc.tensor(b)
    loss.ssim(ta, tb).backward()
    assert tb.grad is None
    # against the gradient when both inputs require grad
    ta2 = sc.tensor(a, requires_grad=True)
    tb2 = sc.tensor(b, requires_grad=True)
    loss.ssim(ta2, tb2).backward()
    assert rel_err(ta.grad.numpy(), ta2.grad.numpy()) < 1e-14
    # and only the second one
    tb3 = sc.tensor(b, requires_grad=True)
    loss.ssim(sc.tensor(a), tb3).backward()
    assert rel_err(tb3.grad.numpy(), tb2.grad.numpy()) < 1e-14


def test_ssim_backward_upstream_scale(rng):
    a, b = image_pair(rng, (8, 8, 2), "close")
    t1 = sc.tensor(a, requires_grad=True)
    loss.ssim(t1, b).backward()
    t2 = sc.tensor(a, requires_grad=True)
    (loss.ssim(t2, b) * sc.tensor(np.array(-3.0))).backward()
    assert rel_err(t2.grad.numpy(), -3.0 * t1.grad.numpy()) < 1e-13


def test_ssim_backward_float32_matches_float64(rng):
    a, b = image_pair(rng, (40, 30, 3), "close")
    grads = {}
    for dt in (np.float64, np.float32):
        ta = sc.tensor(a.astype(dt), requires_grad=True)
        tb = sc.tensor(b.astype(dt), requires_grad=True)
        loss.ssim(ta, tb).backward()
        assert ta.grad.dtype == np.dtype(dt).name
        grads[dt] = (ta.grad.numpy(), tb.grad.numpy())
    for k in range(2):
        assert rel_err(grads[np.float32][k], grads[np.float64][k]) < 1e-4


def test_ssim_no_grad_records_nothing(rng):
    a, b = image_pair(rng, (6, 7, 3), "close")
    ta = sc.tensor(a, requires_grad=True)
    with sc.no_grad():
        out = loss.ssim(ta, b)
    assert not out.requires_grad


# ---- L1, PSNR, the 3DGS loss -------------------------------------------------------------
@pytest.mark.parametrize("dtype,tol", [(np.float64, 1e-12), (np.float32, 1e-5)])
def test_l1(rng, dtype, tol):
    a, b = image_pair(rng, (17, 23, 3), "close")
    a, b = a.astype(dtype), b.astype(dtype)
    ref = np.mean(np.abs(a.astype(np.float64) - b.astype(np.float64)))
    assert rel_err(loss.l1(a, b).item(), ref) < tol


def test_l1_backward(rng):
    a, b = image_pair(rng, (5, 6, 3), "independent")
    check_grad(loss.l1, [a, b], tol=1e-4)


@pytest.mark.parametrize("dtype,tol", [(np.float64, 1e-12), (np.float32, 1e-5)])
def test_psnr(rng, dtype, tol):
    a, b = image_pair(rng, (17, 23, 3), "close")
    a, b = a.astype(dtype), b.astype(dtype)
    d = a.astype(np.float64) - b.astype(np.float64)
    assert rel_err(loss.psnr(a, b).item(), -10 * np.log10(np.mean(d**2))) < tol
    # batched: one value per image
    ab, bb = np.stack([a, b, a]), np.stack([b, a, np.clip(a + 0.01, 0, 1).astype(dtype)])
    ref = [-10 * np.log10(np.mean((ab[i].astype(np.float64) - bb[i]) ** 2)) for i in range(3)]
    out = loss.psnr(ab, bb)
    assert out.shape == (3,)
    assert rel_err(out.numpy(), ref) < tol


def test_psnr_identical_is_inf(rng):
    a = rng.random((4, 5, 3))
    assert math.isinf(loss.psnr(a, a).item())


@pytest.mark.parametrize("lam", [0.2, 0.0, 1.0, 0.5])
def test_gs_loss_composition(rng, lam):
    a, b = image_pair(rng, (21, 15, 3), "close")
    ref = (1 - lam) * np.mean(np.abs(a - b)) + lam * (1 - ssim_ref(a, b))
    assert rel_err(loss.gs_loss(a, b, lambda_ssim=lam).item(), ref) < 1e-10
    a32, b32 = a.astype(np.float32), b.astype(np.float32)
    assert rel_err(loss.gs_loss(a32, b32, lam).item(), ref) < 1e-5


def test_gs_loss_default_lambda(rng):
    a, b = image_pair(rng, (9, 8, 3), "close")
    ref = 0.8 * loss.l1(a, b).item() + 0.2 * (1 - loss.ssim(a, b).item())
    assert rel_err(loss.gs_loss(a, b).item(), ref) < 1e-14


def test_gs_loss_backward(rng):
    a, b = image_pair(rng, (13, 9, 3), "independent")
    check_grad(loss.gs_loss, [a, b], tol=1e-4)
    check_grad(lambda x, y: loss.gs_loss(x, y, 0.7), [a, b], tol=1e-4)
    # gradient = (1 - lam) dL1 + lam * (-dSSIM)
    ta, tb = sc.tensor(a, requires_grad=True), sc.tensor(b, requires_grad=True)
    loss.gs_loss(ta, tb).backward()
    t1 = sc.tensor(a, requires_grad=True)
    loss.l1(t1, b).backward()
    t2 = sc.tensor(a, requires_grad=True)
    loss.ssim(t2, b).backward()
    assert rel_err(ta.grad.numpy(), 0.8 * t1.grad.numpy() - 0.2 * t2.grad.numpy()) < 1e-12


# ---- errors -------------------------------------------------------------------------------
@pytest.mark.parametrize("fn", [loss.ssim, loss.l1, loss.psnr, loss.gs_loss])
def test_shape_mismatch(fn):
    with pytest.raises(ValueError, match=r"\(8, 9, 3\).*\(8, 9, 1\)"):
        fn(np.zeros((8, 9, 3)), np.zeros((8, 9, 1)))


@pytest.mark.parametrize("fn", [loss.ssim, loss.l1, loss.psnr, loss.gs_loss])
@pytest.mark.parametrize("shape", [(0, 5, 3), (4, 0, 3), (4, 5, 0), (0, 4, 5, 3)])
def test_empty_image(fn, shape):
    with pytest.raises(ValueError, match="empty"):
        fn(np.zeros(shape), np.zeros(shape))


@pytest.mark.parametrize("shape", [(8, 9), (8,), (1, 2, 8, 9, 3)])
def test_ssim_bad_rank(shape):
    with pytest.raises(ValueError, match=r"\(H, W, C\)"):
        loss.ssim(np.zeros(shape), np.zeros(shape))


def test_dtype_errors():
    with pytest.raises(TypeError, match="float32 or float64"):
        loss.ssim(np.zeros((4, 4, 3), np.int32), np.zeros((4, 4, 3), np.int32))
    with pytest.raises(TypeError, match="float64.*float32|float32.*float64"):
        loss.ssim(np.zeros((4, 4, 3)), np.zeros((4, 4, 3), np.float32))


@pytest.mark.parametrize("lam", [-0.1, 1.5, float("nan")])
def test_gs_loss_bad_lambda(lam):
    with pytest.raises(ValueError, match="lambda_ssim"):
        loss.gs_loss(np.zeros((4, 4, 3)), np.zeros((4, 4, 3)), lam)
