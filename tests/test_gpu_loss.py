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


def test_gs_loss_and_l1(device):
    a, b = images(4, (16, 16, 3))
    res = []
    for dev in ("cpu", device):
        x = sc.tensor(a, requires_grad=True, device=dev)
        loss = sc.gs_loss(x, sc.tensor(b, device=dev), 0.2)
        loss.backward()
        res.append((loss.item(), sc.l1_loss(x, sc.tensor(b, device=dev)).item(), x.grad.numpy()))
    assert res[1][0] == pytest.approx(res[0][0], rel=1e-12)
    assert res[1][1] == pytest.approx(res[0][1], rel=1e-12)
    np.testing.assert_allclose(res[1][2], res[0][2], rtol=1e-9, atol=1e-13)


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
