"""L1, SSIM and PSNR on every GPU device against the CPU backend (float64:
values and gradients), and no host round trip: the loss stays on the device."""
import numpy as np
import pytest

import splatcore as sc

# Most cases compare float64 on the device with the CPU (Metal skips them: no float64).
pytestmark = pytest.mark.needs_float64


@pytest.fixture
def device(gpu_device):
    return gpu_device


def images(seed, shape):
    r = np.random.default_rng(seed)
    a = r.uniform(0, 1, shape)
    b = np.clip(a + r.normal(0, 0.1, shape), 0, 1)
    return a, b


@pytest.mark.parametrize("shape", [(17, 23, 3), (2, 12, 9, 1), (5, 4, 2)])
def test_ssim_value_and_gradients(device, shape):
    a, b = images(len(shape) * 31 + shape[0], shape)
    res = []
    for dev in ("cpu", device):
        x = sc.tensor(a, requires_grad=True, device=dev)
        y = sc.tensor(b, requires_grad=True, device=dev)
        s = sc.ssim(x, y)
        assert s.device.split(":")[0] == dev
        (s * 3.0).backward()
        res.append((s.item(), x.grad.numpy(), y.grad.numpy()))
    assert res[1][0] == pytest.approx(res[0][0], rel=1e-12)
    for g, c in zip(res[1][1:], res[0][1:]):
        np.testing.assert_allclose(g, c, rtol=1e-9, atol=1e-13)


def test_ssim_float32(device):
    a, b = images(3, (40, 30, 3))
    ref = sc.ssim(sc.tensor(a), sc.tensor(b)).item()
    got = sc.ssim(sc.tensor(a.astype(np.float32), device=device), sc.tensor(b.astype(np.float32), device=device))
    assert got.item() == pytest.approx(ref, rel=1e-5)


@pytest.mark.parametrize("lam", [0.0, 0.2, 1.0])
@pytest.mark.parametrize("shape", [(16, 16, 3), (2, 13, 11, 3)])
def test_gs_loss_and_l1(device, lam, shape):
    """The 3DGS loss, one fused op on a GPU device (SSIM's launches give the per-element
    loss and its gradient), against the CPU's composite of L1 and SSIM: value and the
    gradients of both images, with some pixels equal (|x - y|'s gradient 0 there)."""
    a, b = images(4 + len(shape), shape)
    b.reshape(-1)[::7] = a.reshape(-1)[::7]
    res = []
    for dev in ("cpu", device):
        x = sc.tensor(a, requires_grad=True, device=dev)
        y = sc.tensor(b, requires_grad=True, device=dev)
        loss = sc.gs_loss(x, y, lam)
        assert loss.device.split(":")[0] == dev
        (loss * 1.7).backward()
        res.append((loss.item(), sc.l1_loss(x, y).item(), x.grad.numpy(), y.grad.numpy()))
    assert res[1][0] == pytest.approx(res[0][0], rel=1e-12)
    assert res[1][1] == pytest.approx(res[0][1], rel=1e-12)
    for g, c in zip(res[1][2:], res[0][2:]):
        np.testing.assert_allclose(g, c, rtol=1e-9, atol=1e-13)


def test_gs_loss_is_one_fused_op(device):
    """On a GPU device the loss and its gradient take SSIM's four + two launches (and
    the mean's), not the separate ops of L1, SSIM and their combination."""
    from splatcore import _core

    a, b = images(9, (12, 10, 3))
    x = sc.tensor(a, requires_grad=True, device=device)
    y = sc.tensor(b, device=device)
    _core._gpu_launch_count(True)
    loss = sc.gs_loss(x, y, 0.2)
    forward = _core._gpu_launch_count(True)
    loss.backward()
    backward = _core._gpu_launch_count(True)
    assert forward <= 4, forward
    assert backward <= 4, backward  # the two blurs, and the seed gradient's fill


def test_gs_loss_float32(device):
    a, b = images(5, (30, 20, 3))
    ref = sc.gs_loss(sc.tensor(a), sc.tensor(b), 0.2).item()
    got = sc.gs_loss(sc.tensor(a.astype(np.float32), device=device), sc.tensor(b.astype(np.float32), device=device),
                     0.2)
    assert got.item() == pytest.approx(ref, rel=1e-5)


def test_psnr(device):
    a, b = images(5, (3, 8, 8, 3))
    np.testing.assert_allclose(sc.psnr(sc.tensor(a, device=device), sc.tensor(b, device=device)).numpy(),
                               sc.psnr(sc.tensor(a), sc.tensor(b)).numpy(), rtol=1e-12)
    assert sc.psnr(sc.tensor(a[0], device=device), sc.tensor(b[0], device=device)).item() == pytest.approx(
        sc.psnr(sc.tensor(a[0]), sc.tensor(b[0])).item(), rel=1e-12)


def test_images_on_two_devices_raise(device):
    a, b = images(6, (8, 8, 3))
    with pytest.raises(ValueError, match="img2 on cpu"):
        sc.ssim(sc.tensor(a, device=device), sc.tensor(b))
