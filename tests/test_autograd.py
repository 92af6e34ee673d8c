"""Autograd: leaves, accumulation, graphs that reuse tensors, grad mode,
detach, explicit output gradients, gradients through views, dtype rules."""
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import splatcore as sc
from helpers import check_grad


def leaf(rng, shape, dtype="float64"):
    return sc.tensor(rng.standard_normal(shape).astype(dtype), requires_grad=True)


def test_leaf_and_non_leaf(rng):
    x = sc.tensor(rng.standard_normal(3))
    assert not x.requires_grad and x.is_leaf and x.grad is None and x.grad_fn is None
    x.requires_grad = True
    assert x.requires_grad and x.is_leaf
    y = x * 2.0
    assert y.requires_grad and not y.is_leaf and y.grad_fn == "mul"
    assert "grad_fn=mul" in repr(y)
    z = sc.tensor(rng.standard_normal(3)) * 2.0  # no input requires grad
    assert not z.requires_grad and z.grad_fn is None
    y.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [2.0, 2.0, 2.0])
    assert y.grad is None  # only leaves keep gradients
    with pytest.raises(ValueError, match="non-leaf"):
        y.requires_grad = False
    x.requires_grad_(False)
    assert not x.requires_grad


def test_accumulation_and_reset(rng):
    x = leaf(rng, (2, 3))
    xn = x.numpy().copy()
    loss = (x * x).sum()
    loss.backward()
    np.testing.assert_allclose(x.grad.numpy(), 2 * xn)
    loss.backward()  # the graph can be run again; gradients add up
    np.testing.assert_allclose(x.grad.numpy(), 4 * xn)
    (x * 3.0).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), 4 * xn + 3)
    x.grad = None
    (x * 3.0).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), np.full((2, 3), 3.0))
    # the first gradient is a fresh tensor, not an alias of some other buffer
    g = x.grad
    (x * 1.0).sum().backward()
    assert g.data_ptr != x.grad.data_ptr or np.all(g.numpy() == 3.0)


def test_diamond_and_reuse(rng):
    x = leaf(rng, (4,))
    xn = x.numpy().copy()
    y = x * 2.0  # used twice below
    z = y * y + sc.exp(y) - y / 3.0
    z.sum().backward()
    ref = 2 * (2 * (2 * xn)) + 2 * np.exp(2 * xn) - 2 / 3.0
    np.testing.assert_allclose(x.grad.numpy(), ref, rtol=1e-12)
    check_grad(lambda a: a * a * a + sc.sin(a) * a, [xn])
    check_grad(lambda a, b: (a * b + a) * (b - a), [xn, rng.standard_normal(4)])


def test_deep_chain_does_not_overflow_the_stack():
    # Building, running and freeing a long graph must neither recurse deeply
    # in the engine nor in the destructors of the nodes.
    code = textwrap.dedent("""
        import splatcore as sc
        x = sc.ones(2).requires_grad_()
        y = x
        for _ in range(200_000):
            y = y * 1.0
        y.sum().backward()
        assert x.grad.tolist() == [1.0, 1.0]
        del y
        print("ok")
    """)
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0 and "ok" in r.stdout, r.stderr[-2000:]


def test_no_grad_context_and_decorator(rng):
    x = leaf(rng, (3,))
    assert sc.is_grad_enabled()
    with sc.no_grad():
        assert not sc.is_grad_enabled()
        y = x * 2.0
        assert not y.requires_grad and y.grad_fn is None
        with sc.enable_grad():
            assert (x * 2.0).requires_grad
    assert sc.is_grad_enabled()

    @sc.no_grad()
    def f(t):
        return sc.exp(t) + 1.0

    r = f(x)
    assert not r.requires_grad and r.grad_fn is None
    assert sc.is_grad_enabled()
    with pytest.raises(RuntimeError):
        with sc.no_grad():
            raise RuntimeError("boom")
    assert sc.is_grad_enabled()  # restored after an exception
    # in-place writes are allowed under no_grad
    with sc.no_grad():
        x[0] = 1.0
    assert x[0].item() == 1.0


def test_detach(rng):
    x = leaf(rng, (3,))
    d = x.detach()
    assert not d.requires_grad and d.is_leaf and d.data_ptr == x.data_ptr
    y = (x * d).sum()
    y.backward()
    np.testing.assert_array_equal(x.grad.numpy(), d.numpy())  # no gradient through d


def test_backward_errors_and_explicit_grad(rng):
    x = leaf(rng, (2, 3))
    y = x * 3.0
    with pytest.raises(ValueError, match=r"\(2, 3\)"):
        y.backward()
    with pytest.raises(ValueError, match=r"\(3,\).*\(2, 3\)"):
        y.backward(np.ones(3))
    with pytest.raises(ValueError, match="does not require grad"):
        sc.ones(3).sum().backward()
    g = rng.standard_normal((2, 3))
    y.backward(sc.tensor(g))
    np.testing.assert_allclose(x.grad.numpy(), 3 * g)
    x.grad = None
    y.backward(g.astype(np.float32))  # other dtype: cast to the output's
    np.testing.assert_allclose(x.grad.numpy(), 3 * g.astype(np.float32))
    assert x.grad.dtype == "float64"
    # a leaf's own backward
    x.grad = None
    x.backward(sc.ones((2, 3), dtype="float64"))
    np.testing.assert_array_equal(x.grad.numpy(), np.ones((2, 3)))


def test_explicit_grad_of_other_dtype_float32(rng):
    x = leaf(rng, (4,), "float32")
    y = sc.sqrt(x * x + 1.0)
    y.backward(np.ones(4))  # float64 grad for a float32 output
    xn = x.numpy().astype(np.float64)
    np.testing.assert_allclose(x.grad.numpy(), xn / np.sqrt(xn * xn + 1), rtol=1e-6)
    assert x.grad.dtype == "float32"


@pytest.mark.parametrize(
    "view",
    [
        lambda t: t[1:, ::2],
        lambda t: t[::-1, 1],
        lambda t: t[..., None, 2:],
        lambda t: t.permute(1, 0),
        lambda t: t.T.reshape(-1)[3:9],
        lambda t: t.reshape(2, 2, 5).transpose(0, 2),
        lambda t: t[:1].expand(3, 4, 5),
        lambda t: t[2],
        lambda t: t[:, 3].unsqueeze(0).squeeze(0),
        lambda t: t.flatten()[::3],
        lambda t: t.contiguous() * 1.0 + t.clone(),
    ],
)
def test_gradients_through_views(rng, view):
    check_grad(lambda t: view(t) * view(t) + view(t), [rng.standard_normal((4, 5))])


def test_gradient_through_casts(rng):
    x = leaf(rng, (5,))
    y = x.astype("float32") * sc.tensor(np.arange(5, dtype=np.float32))
    assert y.dtype == "float32" and y.grad_fn == "mul"
    y.astype("float16").astype("float64").sum().backward()
    assert x.grad.dtype == "float64"
    np.testing.assert_array_equal(x.grad.numpy(), np.arange(5.0))


def test_view_grad_of_broadcast_input_sums_back(rng):
    x = leaf(rng, (3, 1))
    e = x.expand(3, 4)
    (e * sc.tensor(np.arange(12.0).reshape(3, 4))).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), np.arange(12.0).reshape(3, 4).sum(1, keepdims=True))


def test_integer_tensors_cannot_require_grad():
    for dt in ("int32", "int64", "uint8", "uint32", "bool"):
        t = sc.zeros(3, dtype=dt)
        with pytest.raises(TypeError, match=dt):
            t.requires_grad = True
        with pytest.raises(TypeError):
            t.requires_grad_()
    with pytest.raises(TypeError):
        sc.tensor([1, 2, 3], requires_grad=True)
    # integer results of differentiable inputs carry no gradient
    x = sc.tensor(np.array([1.5, -2.0]), requires_grad=True)
    assert not sc.argmax(x).requires_grad
    assert not (x > 0).requires_grad
    assert not x.astype("int32").requires_grad


def test_float32_leaf_gets_float32_grad(rng):
    x = leaf(rng, (3,), "float32")
    w = sc.tensor(rng.standard_normal(3))  # float64
    (x * w).sum().backward()
    assert x.grad.dtype == "float32"
    np.testing.assert_allclose(x.grad.numpy(), w.numpy().astype(np.float32), rtol=1e-7)
    h = sc.tensor(rng.standard_normal(3)).astype("bfloat16").requires_grad_()
    (h.astype("float32") * 2.0).sum().backward()
    assert h.grad.dtype == "bfloat16"


def test_setitem_on_grad_tensor_is_refused(rng):
    x = leaf(rng, (3,))
    with pytest.raises(ValueError, match="requires grad"):
        x[0] = 1.0
    y = x * 2.0
    with pytest.raises(ValueError, match="requires grad"):
        y[1:] = 0.0


def test_grad_setter(rng):
    x = leaf(rng, (2,))
    x.grad = np.array([1.0, 2.0])
    assert x.grad.tolist() == [1.0, 2.0]
    (x * 1.0).sum().backward()
    assert x.grad.tolist() == [2.0, 3.0]
    x.grad = None
    assert x.grad is None
    x.grad = np.ones(3)  # stored as given, refused by backward
    with pytest.raises(ValueError, match=r"\(3,\).*\(2,\)"):
        (x * 1.0).sum().backward()
    x.grad = np.ones(2, np.float32)
    (x * 1.0).sum().backward()
    assert x.grad.dtype == "float64" and x.grad.tolist() == [2.0, 2.0]


def test_leaf_gradients_never_alias(rng):
    """A leaf's .grad may take over the backward's buffer only when nothing else
    sees it: two leaves fed the same upstream gradient (add), a gradient the user
    passed in, and a reshaped one each end up in memory of their own."""
    a = sc.tensor(rng.standard_normal(6))
    b = sc.tensor(rng.standard_normal(6))
    c = sc.tensor(rng.standard_normal((2, 3)))
    for t in (a, b, c):
        t.requires_grad = True
    w = rng.standard_normal(6)
    ((a + b + c.reshape([6])) * sc.tensor(w)).sum().backward()
    grads = [a.grad.numpy(), b.grad.numpy(), c.grad.numpy()]
    for g in grads:
        np.testing.assert_allclose(g.reshape(-1), w)
    grads[0][:] = 0.0  # writes through a's .grad only
    np.testing.assert_allclose(b.grad.numpy(), w)
    np.testing.assert_allclose(c.grad.numpy().reshape(-1), w)

    x = sc.tensor(rng.standard_normal(4))
    x.requires_grad = True
    seed_values = rng.standard_normal(4)
    seed = sc.tensor(seed_values.copy())
    (x + 0.0).backward(seed)  # the backward of + passes the caller's tensor on
    np.testing.assert_array_equal(x.grad.numpy(), seed_values)
    x.grad.numpy()[:] = 0.0
    np.testing.assert_array_equal(seed.numpy(), seed_values)  # the caller's gradient is untouched
