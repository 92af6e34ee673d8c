"""Forward and backward of every differentiable op on each GPU device match
the CPU backend in float64 (fresh random inputs, broadcasting and strided
views included): the device runs the same graph the CPU does."""
import zlib

import numpy as np
import pytest

import splatcore as sc

# Most cases compare float64 on the device with the CPU (Metal skips them: no float64).
pytestmark = pytest.mark.needs_float64


@pytest.fixture
def device(gpu_device):
    return gpu_device


def _pos(t):
    return sc.abs(t) + 0.5


OPS = {
    "add_broadcast": (lambda a, b: a + b[0], [(4, 5), (1, 5)]),
    "sub_mul_div": (lambda a, b: (a - b) * a / (_pos(b)), [(3, 4), (3, 4)]),
    "pow": (lambda a, b: _pos(a) ** b, [(6,), (6,)]),
    "maximum_minimum": (lambda a, b: sc.maximum(a, b) + sc.minimum(a, 2.0 * b), [(5, 3), (5, 3)]),
    "unary_chain": (lambda a, b: sc.tanh(sc.exp(a * 0.3)) + sc.sigmoid(b) * sc.sin(a) - sc.cos(b)
                    + sc.gelu(a) + sc.relu(b) + sc.log(_pos(a)) + sc.sqrt(_pos(b)) + sc.rsqrt(_pos(a)), [(7,), (7,)]),
    "square_abs_neg": (lambda a, b: sc.square(a) - sc.abs(b) + (-a), [(4, 4), (4, 4)]),
    "where_compare": (lambda a, b: sc.where(a > b, a * 2.0, b * b), [(3, 5), (5,)]),
    "clamp": (lambda a, b: sc.clamp(a, -0.3, 0.4) * b, [(9,), (9,)]),
    "sum_mean_axes": (lambda a, b: a.sum(axis=1) * b.mean(axis=0), [(4, 6), (3, 4)]),
    "max_min": (lambda a, b: a.max(axis=0) + b.min(axis=1, keepdims=True), [(5, 3), (3, 3)]),
    "norm": (lambda a, b: sc.norm(a, axis=1) * b.sum(), [(4, 3), (2,)]),
    "softmax_logsoftmax": (lambda a, b: sc.softmax(a, axis=0) * sc.log_softmax(b, axis=-1), [(4, 5), (4, 5)]),
    "matmul_batched": (lambda a, b: a @ b, [(2, 3, 4), (4, 5)]),
    "matmul_vec": (lambda a, b: a @ b, [(6,), (6, 2)]),
    "views": (lambda a, b: a.transpose(0, 1).reshape(2, 6) * b[::2].reshape(2, 6), [(3, 4), (4, 6)]),
    "permute_expand": (lambda a, b: a.permute(2, 0, 1) + b.expand(2, 3, 4), [(3, 4, 2), (3, 4)]),
    "concat_stack": (lambda a, b: sc.concat([a, b], 0) * sc.stack([a, a], 0).sum(axis=0).sum(), [(2, 3), (4, 3)]),
    "cumsum": (lambda a, b: sc.cumsum(a, 1) * b, [(3, 5), (3, 5)]),
    "index_ops": (lambda a, b: sc.index_select(a, 1, sc.tensor(np.array([2, 0, 2]), device=a.device))
                  * sc.gather(b, 0, sc.tensor(np.array([[1, 0, 1]]), device=a.device)), [(2, 4), (2, 3)]),
    "getitem": (lambda a, b: a[1:, ::2] * b[sc.tensor(np.array([0, 2]), device=a.device)], [(3, 4), (3, 2)]),
    "conv_upsample": (lambda a, b: sc.upsample_bilinear(sc.conv2d(a, b, padding=1), (7, 5)), [(1, 2, 4, 3), (3, 2, 3, 3)]),
    "to_dtype": (lambda a, b: (a.astype("float32") * b.astype("float32")).astype("float64"), [(5,), (5,)]),
}


@pytest.mark.parametrize("name", sorted(OPS))
def test_forward_and_backward_match_the_cpu(device, name):
    fn, shapes = OPS[name]
    r = np.random.default_rng(zlib.crc32(name.encode()))
    arrays = [r.standard_normal(s) for s in shapes]
    results = []
    for dev in ("cpu", device):
        ts = [sc.tensor(a, requires_grad=True, device=dev) for a in arrays]
        y = fn(*ts)
        assert y.device == ts[0].device
        w = sc.tensor(np.cos(np.arange(y.size) + 1.0).reshape(y.shape), device=dev)
        (y * w).sum().backward()
        results.append([y.numpy()] + [t.grad.numpy() for t in ts])
    tol = 1e-6 if name == "to_dtype" else 1e-10
    for got, ref in zip(results[1], results[0]):
        np.testing.assert_allclose(got, ref, rtol=tol, atol=tol)
