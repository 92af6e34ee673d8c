"""conv2d, conv_transpose2d, bilinear upsampling and pixel shuffle on every GPU
device against the CPU backend: outputs and every gradient, in float64."""
import numpy as np
import pytest

import splatcore as sc

# Most cases compare float64 on the device with the CPU (Metal skips them: no float64).
pytestmark = pytest.mark.needs_float64


@pytest.fixture
def device(gpu_device):
    return gpu_device


def rel(a, b):
    return np.linalg.norm(np.asarray(a) - np.asarray(b)) / max(np.linalg.norm(b), 1e-30)


def both(device, fn, *arrays):
    """fn on the CPU and on `device` from the same float64 inputs: outputs and input gradients."""
    out = []
    for dev in ("cpu", device):
        ts = [sc.tensor(a, requires_grad=True, device=dev) for a in arrays]
        y = fn(*ts)
        w = sc.tensor(np.cos(np.arange(y.size)).reshape(y.shape), device=dev)
        (y * w).sum().backward()
        out.append((y.numpy(), [t.grad.numpy() for t in ts]))
    return out


@pytest.mark.parametrize("stride, padding, dilation, groups", [(1, 0, 1, 1), (2, 1, 1, 1), (1, 2, 2, 1), (2, 1, 1, 2)])
def test_conv2d(device, stride, padding, dilation, groups):
    r = np.random.default_rng(stride * 10 + padding + groups)
    x = r.standard_normal((2, 4, 9, 8))
    w = r.standard_normal((6, 4 // groups, 3, 3))
    b = r.standard_normal(6)
    (yc, gc), (yg, gg) = both(device, lambda x, w, b: sc.conv2d(x, w, b, stride=stride, padding=padding,
                                                               dilation=dilation, groups=groups), x, w, b)
    assert rel(yg, yc) < 1e-12
    for a, c in zip(gg, gc):
        assert rel(a, c) < 1e-12


def test_conv2d_many_column_rows(device):
    # C kh kw = 65547 column-matrix rows: more than the 2-D grid's 65535, so the
    # im2col takes its general (64-bit, 1-D) form
    r = np.random.default_rng(11)
    x = r.standard_normal((1, 7283, 3, 4))
    w = r.standard_normal((2, 7283, 3, 3)) * 0.01
    b = r.standard_normal(2)
    (yc, gc), (yg, gg) = both(device, lambda x, w, b: sc.conv2d(x, w, b, padding=1), x, w, b)
    assert rel(yg, yc) < 1e-12
    for a, c in zip(gg, gc):
        assert rel(a, c) < 1e-12


@pytest.mark.parametrize("stride, padding, output_padding", [(1, 0, 0), (2, 1, 1), (3, 0, 2)])
def test_conv_transpose2d(device, stride, padding, output_padding):
    r = np.random.default_rng(stride + 7 * padding)
    x = r.standard_normal((2, 3, 5, 6))
    w = r.standard_normal((3, 4, 3, 3))
    b = r.standard_normal(4)
    (yc, gc), (yg, gg) = both(device, lambda x, w, b: sc.conv_transpose2d(
        x, w, b, stride=stride, padding=padding, output_padding=output_padding), x, w, b)
    assert yg.shape == yc.shape
    assert rel(yg, yc) < 1e-12
    for a, c in zip(gg, gc):
        assert rel(a, c) < 1e-12


@pytest.mark.parametrize("align_corners", [False, True])
def test_upsample_bilinear(device, align_corners):
    x = np.random.default_rng(3).standard_normal((2, 3, 5, 7))
    (yc, gc), (yg, gg) = both(device, lambda x: sc.upsample_bilinear(x, (11, 9), align_corners=align_corners), x)
    assert rel(yg, yc) < 1e-12 and rel(gg[0], gc[0]) < 1e-12


def test_pixel_shuffle(device):
    x = np.random.default_rng(4).standard_normal((2, 8, 3, 5))
    (yc, gc), (yg, gg) = both(device, lambda x: sc.pixel_shuffle(x, 2), x)
    np.testing.assert_array_equal(yg, yc)
    np.testing.assert_array_equal(gg[0], gc[0])


def test_conv2d_float32_matches_float64(device):
    r = np.random.default_rng(5)
    x = r.standard_normal((1, 8, 16, 16)).astype(np.float32)
    w = r.standard_normal((4, 8, 3, 3)).astype(np.float32)
    ref = sc.conv2d(sc.tensor(x.astype(np.float64)), sc.tensor(w.astype(np.float64)), padding=1).numpy()
    got = sc.conv2d(sc.tensor(x, device=device), sc.tensor(w, device=device), padding=1).numpy()
    assert rel(got, ref) < 1e-5


def test_conv2d_mixed_devices_raise(device):
    x = sc.tensor(np.ones((1, 1, 4, 4)), device=device)
    w = sc.tensor(np.ones((1, 1, 3, 3)))
    with pytest.raises(ValueError, match="weight on cpu"):
        sc.conv2d(x, w)
