"""Tensor ops on every GPU device (the simulator always; CUDA / Metal when
present) against a float64 NumPy reference, at the tolerances of
ARCHITECTURE.md: 1e-5 relative for elementwise work, 1e-4 for reductions and
matmul. Gradients are compared with the CPU backend's."""
import numpy as np
import pytest

import splatcore as sc

# Most cases compare float64 on the device with the CPU (Metal skips them: no float64).
pytestmark = pytest.mark.needs_float64


@pytest.fixture
def device(gpu_device):
    return gpu_device


def rel(a, b):
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return np.linalg.norm(a - b) / max(np.linalg.norm(b), 1e-30)


def rng(seed):
    return np.random.default_rng(seed)


UNARY = {
    "neg": np.negative, "exp": np.exp, "log": np.log, "sqrt": np.sqrt, "rsqrt": lambda x: 1 / np.sqrt(x),
    "sigmoid": lambda x: 1 / (1 + np.exp(-x)), "tanh": np.tanh, "relu": lambda x: np.maximum(x, 0),
    "abs": np.abs, "sin": np.sin, "cos": np.cos, "square": np.square, "sign": np.sign,
}


@pytest.mark.parametrize("name", sorted(UNARY))
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_unary(device, name, dtype):
    x = rng(hash(name) % 1000).uniform(0.1, 3.0, (37, 29))
    if name not in ("log", "sqrt", "rsqrt"):
        x = x * rng(1).choice([-1, 1], x.shape)
    x = x.astype(dtype)
    out = getattr(sc, name)(sc.tensor(x, device=device))
    assert out.device.startswith(device)
    assert rel(out.numpy(), UNARY[name](x.astype(np.float64))) < (1e-6 if dtype == "float32" else 1e-12)


def test_gelu(device):
    from scipy.special import erf
    x = rng(2).standard_normal(1000).astype(np.float32)
    ref = x * 0.5 * (1 + erf(x.astype(np.float64) / np.sqrt(2)))
    assert rel(sc.gelu(sc.tensor(x, device=device)).numpy(), ref) < 1e-6


@pytest.mark.parametrize("op", ["add", "subtract", "multiply", "divide", "maximum", "minimum", "power"])
def test_binary_broadcast_and_strides(device, op):
    r = rng(3)
    a = r.uniform(0.5, 2.0, (6, 1, 5)).astype(np.float32)
    b = r.uniform(0.5, 2.0, (4, 7)).astype(np.float32)[:, ::2]  # strided view, shape (4, 4)
    b = np.ascontiguousarray(b)[None, :, :].repeat(1, 0)        # (1, 4, 4)
    a5 = r.uniform(0.5, 2.0, (6, 4, 5)).astype(np.float32)
    ta = sc.tensor(a5, device=device).permute(0, 2, 1)           # (6, 5, 4), not contiguous
    tb = sc.tensor(b[:, :1, :], device=device)                   # (1, 1, 4): broadcast
    out = getattr(sc, op)(ta, tb)
    ref = getattr(np, op if op != "power" else "power")(a5.transpose(0, 2, 1).astype(np.float64),
                                                         b[:, :1, :].astype(np.float64))
    assert out.shape == ref.shape
    assert rel(out.numpy(), ref) < 1e-6
    del a


@pytest.mark.parametrize("dtype", ["int32", "int64", "uint8", "uint32"])
def test_integer_arithmetic_wraps_like_numpy(device, dtype):
    info = np.iinfo(dtype)
    r = rng(4)
    a = r.integers(info.min, info.max, 500, endpoint=True, dtype=dtype)
    b = r.integers(info.min, info.max, 500, endpoint=True, dtype=dtype)
    ta, tb = sc.tensor(a, device=device), sc.tensor(b, device=device)
    with np.errstate(over="ignore"):
        np.testing.assert_array_equal((ta + tb).numpy(), a + b)
        np.testing.assert_array_equal((ta - tb).numpy(), a - b)
        np.testing.assert_array_equal((ta * tb).numpy(), a * b)
    np.testing.assert_array_equal(sc.maximum(ta, tb).numpy(), np.maximum(a, b))


def test_python_scalars_travel_by_value(device):
    x = rng(5).standard_normal((3, 4)).astype(np.float32)
    t = sc.tensor(x, device=device)
    for got, ref in [(t * 2.5, x * 2.5), (3.0 - t, 3.0 - x), (t / 4, x / 4), (t ** 2, x ** 2),
                     (2 ** t, 2.0 ** x)]:
        assert got.device == t.device
        assert rel(got.numpy(), ref) < 1e-6


@pytest.mark.parametrize("op", ["equal", "not_equal", "less", "less_equal", "greater", "greater_equal"])
def test_compare_and_where(device, op):
    r = rng(6)
    a = r.integers(0, 4, (5, 6)).astype(np.float32)
    b = r.integers(0, 4, (6,)).astype(np.float32)
    m = getattr(sc, op)(sc.tensor(a, device=device), sc.tensor(b, device=device))
    ref = getattr(np, op)(a, b)
    assert m.dtype == "bool"
    np.testing.assert_array_equal(m.numpy(), ref)
    w = sc.where(m, sc.tensor(a, device=device), -1.0)
    np.testing.assert_array_equal(w.numpy(), np.where(ref, a, -1.0))


def test_logical_ops(device):
    r = rng(7)
    a, b = r.random(50) > 0.5, r.random(50) > 0.3
    ta, tb = sc.tensor(a, device=device), sc.tensor(b, device=device)
    np.testing.assert_array_equal(sc.logical_and(ta, tb).numpy(), a & b)
    np.testing.assert_array_equal(sc.logical_or(ta, tb).numpy(), a | b)
    np.testing.assert_array_equal(sc.logical_not(ta).numpy(), ~a)


DTYPES = ["bool", "uint8", "int32", "uint32", "int64", "float16", "bfloat16", "float32", "float64"]


@pytest.mark.parametrize("src", DTYPES)
def test_casts_match_the_cpu(device, src):
    x = rng(8).uniform(-3, 200, 64)
    if src in ("uint8", "uint32", "bool"):
        x = np.abs(x)
    cpu = sc.tensor(x).astype(src)
    gpu = cpu.to(device)
    for dst in DTYPES:
        a = cpu.astype(dst).astype("float64").numpy()
        b = gpu.astype(dst).astype("float64").numpy()
        np.testing.assert_array_equal(b, a, err_msg=f"{src} -> {dst}")


def test_strided_copy_and_round_trip(device):
    x = rng(9).standard_normal((4, 5, 6)).astype(np.float32)
    t = sc.tensor(x, device=device)
    v = t.permute(2, 0, 1)[1:5:2]
    np.testing.assert_array_equal(v.contiguous().numpy(), x.transpose(2, 0, 1)[1:5:2])
    np.testing.assert_array_equal(v.cpu().numpy(), x.transpose(2, 0, 1)[1:5:2])
    assert v.item() if v.size == 1 else True
    assert t[1, 2, 3].item() == pytest.approx(float(x[1, 2, 3]))


@pytest.mark.parametrize("axis", [None, 0, 1, 2, (0, 2), (1, 2)])
@pytest.mark.parametrize("keepdim", [False, True])
def test_reductions(device, axis, keepdim):
    x = rng(10).standard_normal((7, 300, 5)).astype(np.float32)
    t = sc.tensor(x, device=device)
    xd = x.astype(np.float64)
    for name in ["sum", "mean", "max", "min"]:
        got = getattr(t, name)(axis=axis, keepdims=keepdim)
        ref = getattr(np, name if name not in ("max", "min") else "a" + name)(xd, axis=axis, keepdims=keepdim)
        assert got.shape == ref.shape, name
        assert rel(got.numpy(), ref) < 1e-4, name
    n = sc.norm(t, axis=axis, keepdims=keepdim)
    assert rel(n.numpy(), np.sqrt((xd ** 2).sum(axis=axis, keepdims=keepdim))) < 1e-4


def test_long_sum_uses_two_passes(device):
    x = rng(11).standard_normal(300_001).astype(np.float32)
    assert rel(sc.tensor(x, device=device).sum().numpy(), x.astype(np.float64).sum()) < 1e-4


def test_max_propagates_nan(device):
    x = rng(12).standard_normal((4, 1000)).astype(np.float32)
    x[2, 517] = np.nan
    got = sc.tensor(x, device=device).max(axis=1).numpy()
    assert np.isnan(got[2]) and not np.isnan(got[[0, 1, 3]]).any()


def test_argmax_argmin(device):
    x = rng(13).standard_normal((9, 41)).astype(np.float32)
    t = sc.tensor(x, device=device)
    np.testing.assert_array_equal(sc.argmax(t, axis=1).numpy(), x.argmax(1))
    np.testing.assert_array_equal(sc.argmin(t, axis=0).numpy(), x.argmin(0))
    assert sc.argmax(t).item() == x.argmax()


@pytest.mark.parametrize("axis", [0, -1])
def test_softmax(device, axis):
    x = (rng(14).standard_normal((33, 700)) * 4).astype(np.float32)
    xd = x.astype(np.float64)
    e = np.exp(xd - xd.max(axis=axis, keepdims=True))
    ref = e / e.sum(axis=axis, keepdims=True)
    t = sc.tensor(x, device=device)
    assert rel(sc.softmax(t, axis=axis).numpy(), ref) < 1e-5
    assert rel(sc.log_softmax(t, axis=axis).numpy(), np.log(ref)) < 1e-5


@pytest.mark.parametrize("shapes", [((33, 17), (17, 20)), ((3, 5, 40), (40, 8)), ((2, 1, 6, 7), (4, 7, 3)),
                                    ((17,), (17, 5)), ((5, 17), (17,))])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_matmul(device, shapes, dtype):
    r = rng(15)
    a = r.standard_normal(shapes[0]).astype(dtype)
    b = r.standard_normal(shapes[1]).astype(dtype)
    got = sc.tensor(a, device=device) @ sc.tensor(b, device=device)
    ref = a.astype(np.float64) @ b.astype(np.float64)
    assert got.shape == ref.shape
    assert rel(got.numpy(), ref) < (1e-5 if dtype == "float32" else 1e-12)


def test_gradients_match_the_cpu(device):
    r = rng(16)
    x0 = r.standard_normal((8, 12))
    w0 = r.standard_normal((12, 6))
    b0 = r.standard_normal(6)

    def run(dev):
        x = sc.tensor(x0, requires_grad=True, device=dev)
        w = sc.tensor(w0, requires_grad=True, device=dev)
        b = sc.tensor(b0, requires_grad=True, device=dev)
        h = sc.tanh(x @ w + b) * 2.0
        y = sc.log_softmax(h, axis=1)
        loss = (sc.where(h > 0, y, h * h).sum(axis=0) * sc.sigmoid(b)).mean() + x.abs().max()
        loss.backward()
        return loss.item(), x.grad.numpy(), w.grad.numpy(), b.grad.numpy()

    cpu, gpu = run("cpu"), run(device)
    assert gpu[0] == pytest.approx(cpu[0], rel=1e-12)
    for g, c in zip(gpu[1:], cpu[1:]):
        assert rel(g, c) < 1e-10


def test_gradient_flows_back_across_devices(device):
    x0 = rng(17).standard_normal((5, 3)).astype(np.float32)
    x = sc.tensor(x0, requires_grad=True)
    y = (x.to(device) * 3.0).sum()
    y.backward()
    assert x.grad.device == "cpu"
    np.testing.assert_array_equal(x.grad.numpy(), np.full_like(x0, 3.0))


@pytest.mark.parametrize("kind", ["Adam", "AdamW", "SGD"])
def test_fused_optimizers_match_the_cpu(device, kind):
    r = rng(18)
    p0 = r.standard_normal(1000)
    grads = [r.standard_normal(1000) for _ in range(3)]

    def run(dev):
        p = sc.tensor(p0.copy(), requires_grad=True, device=dev)  # a CPU tensor shares the array
        opt = {"Adam": lambda: sc.optim.Adam([p], lr=1e-2, weight_decay=1e-3),
               "AdamW": lambda: sc.optim.AdamW([p], lr=1e-2, weight_decay=1e-2),
               "SGD": lambda: sc.optim.SGD([p], lr=1e-2, momentum=0.9, nesterov=True)}[kind]()
        for g in grads:
            p.grad = sc.tensor(g, device=dev)
            opt.step()
        return p.numpy()

    assert rel(run(device), run("cpu")) < 1e-13


@pytest.mark.needs_float64
@pytest.mark.parametrize("kind", ["Adam", "AdamW"])
def test_adam_updates_many_tensors_in_few_launches(device, kind):
    """A step's Adam updates on a GPU device go out together, up to 8 tensors a launch
    (each with its own group's lr, betas, eps and weight decay, and its own step count);
    every tensor ends as on the CPU. 11 float64 tensors and 2 float32: 3 launches."""
    from splatcore import _core

    r = rng(31)
    shapes = [(50, 3), (7,), (1,), (33, 4), (2, 2, 2), (100,), (9, 3), (5,), (64,), (3, 3), (17,)]
    p0 = [r.standard_normal(s) for s in shapes] + [r.standard_normal((40,)).astype(np.float32),
                                                    r.standard_normal((6, 2)).astype(np.float32)]
    grads = [[r.standard_normal(x.shape).astype(x.dtype) for x in p0] for _ in range(3)]

    def run(dev):
        ps = [sc.tensor(x.copy(), requires_grad=True, device=dev) for x in p0]
        groups = [{"params": ps[:4], "lr": 1e-2, "weight_decay": 1e-3},
                  {"params": ps[4:9], "lr": 3e-3, "betas": (0.8, 0.99), "eps": 1e-6},
                  {"params": ps[9:], "lr": 5e-2, "weight_decay": 0.1}]
        opt = getattr(sc.optim, kind)(groups)
        launches = []
        for step, gs in enumerate(grads):
            for k, (p, g) in enumerate(zip(ps, gs)):
                if step == 1 and k == 5:  # no gradient this step: untouched, its step count too
                    p.grad = None
                    continue
                p.grad = sc.tensor(g, device=dev)
            _core._gpu_launch_count(True)
            opt.step()
            launches.append(_core._gpu_launch_count(True))
        return [p.numpy() for p in ps], launches

    got, launches = run(device)
    want, _ = run("cpu")
    for g, w in zip(got, want):
        assert rel(g, w) < (1e-6 if g.dtype == np.float32 else 1e-13)
    # the first step also zero-fills each tensor's two moments
    assert launches[1:] == [3, 3], launches


def test_mixing_devices_raises_naming_both(device):
    a = sc.tensor(np.ones((2, 2), np.float32), device=device)
    b = sc.tensor(np.ones((2, 2), np.float32))
    with pytest.raises(ValueError, match=r"different devices, .*:0 and cpu"):
        a + b
    with pytest.raises(ValueError, match="different devices"):
        a @ b


def test_factories_and_default_device(device):
    for t in [sc.zeros((2, 3), device=device), sc.ones(4, device=device), sc.full((2,), 7.0, device=device),
              sc.arange(5, device=device), sc.rand((3,), seed=1, device=device),
              sc.randn((3,), seed=1, device=device), sc.empty((2,), device=device),
              sc.from_numpy(np.ones(3), device=device)]:
        assert t.device.split(":")[0] == device
    np.testing.assert_array_equal(sc.full((2,), 7.0, device=device).numpy(), [7.0, 7.0])
    # rand draws on the CPU and uploads: the same seed, the same numbers everywhere.
    np.testing.assert_array_equal(sc.randn((50,), seed=3, device=device).numpy(), sc.randn((50,), seed=3).numpy())
    with sc.default_device(device):
        assert sc.zeros(2).device.split(":")[0] == device
        assert sc.tensor([1.0, 2.0]).device.split(":")[0] == device
    assert sc.zeros(2).device == "cpu"


def test_repr_shows_values_and_device(device):
    t = sc.tensor(np.array([1.5, -2.0], np.float32), device=device)
    r = repr(t)
    assert "1.5" in r and "-2." in r and f"device={device}" in r


def test_cpu_only_ops_refuse_device_tensors(device):
    # Ops without a GPU implementation yet raise instead of reading device memory.
    t = sc.tensor(rng(20).random((10, 3)).astype(np.float32), device=device)
    with pytest.raises(ValueError, match="runs on the CPU only"):
        sc._core.knn_mean_distance(t)


def test_unknown_device_is_a_clear_error():
    with pytest.raises(ValueError, match="device"):
        sc.zeros(3, device="tpu")
    if sc.device_count("cuda") == 0:
        with pytest.raises(ValueError, match="cuda:0 is not available"):
            sc.zeros(3, device="cuda")


def test_optimizer_row_surgery_on_the_device(device):
    """Densification's row surgery keeps Adam moments aligned on the device, as on the CPU."""
    r = rng(19)
    p0 = r.standard_normal((6, 3))
    g0 = r.standard_normal((6, 3))
    keep = np.array([True, False, True, True, False, True])
    rows = np.array([3, -1, 0, 2, 2, -1, 1])  # rows of the 4 kept, -1: fresh state
    extra = r.standard_normal((3, 3))

    def run(dev):
        p = sc.tensor(p0.copy(), requires_grad=True, device=dev)  # a CPU tensor shares the array
        opt = sc.optim.Adam([p], lr=1e-2)
        p.grad = sc.tensor(g0, device=dev)
        opt.step()
        q = sc.tensor(p0[keep], requires_grad=True, device=dev)
        opt.prune_rows(p, q, sc.tensor(keep, device=dev))
        u = sc.tensor(np.concatenate([p0[keep], p0[keep][:3]])[: len(rows)], requires_grad=True, device=dev)
        opt.replace_param(q, u, sc.tensor(rows[: u.shape[0]], device=dev))
        v = sc.tensor(np.concatenate([u.numpy(), extra]), requires_grad=True, device=dev)
        opt.append_rows(u, v)
        v.grad = sc.tensor(np.ones(v.shape), device=dev)
        opt.step()
        return v.numpy()

    np.testing.assert_allclose(run(device), run("cpu"), rtol=1e-13, atol=1e-13)
    # Rows out of range, given on the device, are reported at the next host read.
    p = sc.tensor(p0, requires_grad=True, device=device)
    opt = sc.optim.Adam([p], lr=1e-2)
    p.grad = sc.tensor(g0, device=device)
    opt.step()
    q = sc.tensor(p0[:2], requires_grad=True, device=device)
    opt.replace_param(p, q, sc.tensor(np.array([0, 6]), device=device))
    with pytest.raises(IndexError, match="out of bounds"):
        sc.synchronize(device)


def test_long_columns_reduce_in_chunks(device):
    x = rng(21).standard_normal((50_000, 3)).astype(np.float32)
    t = sc.tensor(x, device=device)
    assert rel(t.sum(axis=0).numpy(), x.astype(np.float64).sum(axis=0)) < 1e-4
    np.testing.assert_array_equal(t.min(axis=0).numpy(), x.min(axis=0))


def test_tensor_of_a_device_tensor_keeps_its_device(device):
    t = sc.tensor(np.arange(3.0), device=device)
    assert sc.tensor(t).device == t.device
    assert sc.tensor(t, device="cpu").device == "cpu"


@pytest.mark.parametrize("precision,tol", [("highest", 1e-6), ("high", 2e-3), ("medium", 1e-2)])
def test_matmul_precision(device, precision, tol):
    # float32 GEMMs at each precision against float64: IEEE float32, TF32 (10-bit
    # mantissa) and bfloat16 (8-bit) tensor cores on CUDA; exact elsewhere
    r = np.random.default_rng(5)
    a, b = r.standard_normal((70, 300)), r.standard_normal((300, 90))
    prev = sc.get_matmul_precision()
    sc.set_matmul_precision(precision)
    try:
        assert sc.get_matmul_precision() == precision
        got = (sc.tensor(a.astype(np.float32), device=device) @ sc.tensor(b.astype(np.float32), device=device)).numpy()
    finally:
        sc.set_matmul_precision(prev)
    ref = a @ b
    assert np.linalg.norm(got - ref) / np.linalg.norm(ref) < tol


def test_matmul_precision_rejects_unknown_names():
    with pytest.raises(ValueError, match="precision.*'highest', 'high' or 'medium'.*'low'"):
        sc.set_matmul_precision("low")
