"""Elementwise ops: binary with NumPy broadcasting, comparisons, promotion,
unary, clamp, where, logical ops, half precision, and every backward vs
finite differences."""
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import mutually_broadcastable_shapes
from scipy.special import erf, erfc

import splatcore as sc
from helpers import check_grad, rel_err

BINARY = {
    "add": np.add,
    "subtract": np.subtract,
    "multiply": np.multiply,
    "divide": np.divide,
    "power": np.power,
    "maximum": np.maximum,
    "minimum": np.minimum,
}


def operands(rng, name, sa, sb):
    """Inputs in each op's comfortable domain (float64)."""
    a = rng.standard_normal(sa)
    b = rng.standard_normal(sb)
    if name == "divide":
        b = np.where(np.abs(b) < 0.3, 0.3 + np.abs(b), b)
    if name == "power":
        a = rng.uniform(0.5, 2.0, sa)
        b = rng.uniform(-2.0, 2.0, sb)
    return a, b


shapes2 = mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=4, max_side=5)


@pytest.mark.parametrize("name", list(BINARY))
@given(shapes=shapes2, seed=st.integers(0, 2**32 - 1))
def test_binary_broadcast_float32(name, shapes, seed):
    rng = np.random.default_rng(seed)
    (sa, sb), out_shape = shapes.input_shapes, shapes.result_shape
    a, b = operands(rng, name, sa, sb)
    out = getattr(sc, name)(sc.tensor(a.astype(np.float32)), sc.tensor(b.astype(np.float32)))
    ref = BINARY[name](a, b)
    assert out.shape == out_shape and out.dtype == "float32"
    # float32 inputs are rounded: compare with the reference of the rounded inputs
    ref32 = BINARY[name](a.astype(np.float32).astype(np.float64), b.astype(np.float32).astype(np.float64))
    assert rel_err(out.numpy(), ref32) < 1e-5
    assert rel_err(out.numpy(), ref) < 1e-4


@pytest.mark.parametrize("name", list(BINARY))
def test_binary_float64_noncontiguous(rng, name):
    a, b = operands(rng, name, (6, 8), (8, 6))
    av = a[::2, ::-1]  # (3, 8), negative stride
    bv = np.broadcast_to(b[:3, 0].reshape(3, 1), (3, 8))
    out = getattr(sc, name)(sc.tensor(av), sc.tensor(bv))
    np.testing.assert_allclose(out.numpy(), BINARY[name](av, bv), rtol=1e-14, atol=0)
    # 4-d broadcast with a transposed operand
    x, y = operands(rng, name, (2, 1, 4, 3), (3, 4))
    out = getattr(sc, name)(sc.tensor(x), sc.tensor(y).T)
    np.testing.assert_allclose(out.numpy(), BINARY[name](x, y.T), rtol=1e-14, atol=0)


@pytest.mark.parametrize("dtype", ["uint8", "int32", "uint32", "int64"])
@pytest.mark.parametrize("name", ["add", "subtract", "multiply", "maximum", "minimum", "power"])
def test_binary_integers_exact(rng, dtype, name):
    lo = 0 if dtype.startswith("u") else -50
    a = rng.integers(lo, 50, (4, 5)).astype(dtype)
    b = rng.integers(lo, 50, (5,)).astype(dtype)
    if name == "subtract" and dtype.startswith("u"):
        a, b = np.maximum(a, b), np.minimum(a[0], b)
    if name == "power":
        a = rng.integers(0 if dtype.startswith("u") else -5, 6, (4, 5)).astype(dtype)
        b = rng.integers(0, 4, (5,)).astype(dtype)
    out = getattr(sc, name)(sc.tensor(a), sc.tensor(b))
    ref = BINARY[name](a, b)
    assert out.dtype == dtype
    np.testing.assert_array_equal(out.numpy(), ref)


def test_integer_overflow_wraps_like_numpy():
    a = np.array([2**31 - 1, -(2**31)], np.int32)
    b = np.array([1, -1], np.int32)
    np.testing.assert_array_equal((sc.tensor(a) + sc.tensor(b)).numpy(), a + b)
    np.testing.assert_array_equal((sc.tensor(a) * sc.tensor(b)).numpy(), a * b)
    c = np.array([2**63 - 1], np.int64)
    np.testing.assert_array_equal((sc.tensor(c) + sc.tensor(np.array([1]))).numpy(), c + 1)
    u = np.array([250], np.uint8)
    np.testing.assert_array_equal((sc.tensor(u) + sc.tensor(np.array([10], np.uint8))).numpy(),
                                  u + np.uint8(10))


def test_integer_power_wraps_and_rejects_negative_exponents():
    a = np.array([10, 3, -7, 2, 0], np.int32)
    b = np.array([10, 25, 3, 31, 0], np.int32)
    np.testing.assert_array_equal((sc.tensor(a) ** sc.tensor(b)).numpy(), a**b)
    a64 = np.array([3, -5], np.int64)
    np.testing.assert_array_equal(sc.power(sc.tensor(a64), 41).numpy(), a64**41)
    u = np.array([3, 200], np.uint8)
    np.testing.assert_array_equal((sc.tensor(u) ** 5).numpy(), u ** np.uint8(5))
    with pytest.raises(ValueError, match="negative"):
        sc.tensor(a) ** sc.tensor(np.array([1, 2, -1, 0, 0], np.int32))
    with pytest.raises(ValueError, match="negative"):
        sc.tensor(a64) ** -1


def test_integer_divide_is_float(rng):
    a = rng.integers(-20, 20, (3, 4)).astype(np.int32)
    b = rng.integers(1, 9, (4,)).astype(np.int64)
    out = sc.tensor(a) / sc.tensor(b)
    assert out.dtype == "float32"
    assert rel_err(out.numpy(), a / b) < 1e-6
    assert (sc.tensor(a) / 2).dtype == "float32"


def test_operators_with_python_scalars(rng):
    a = rng.uniform(0.5, 2.0, (3, 4)).astype(np.float32)
    t = sc.tensor(a)
    a64 = a.astype(np.float64)
    cases = [
        (t + 2.5, a64 + 2.5), (2.5 + t, 2.5 + a64), (t - 1.5, a64 - 1.5), (1.5 - t, 1.5 - a64),
        (t * 3, a64 * 3), (3 * t, 3 * a64), (t / 4.0, a64 / 4), (4.0 / t, 4 / a64),
        (t ** 2, a64**2), (t ** 0.5, a64**0.5), (t ** -1.5, a64**-1.5), (2.0 ** t, 2.0**a64),
        (-t, -a64), (abs(t - 1.0), np.abs(a64 - 1)), (t + t, 2 * a64), (t * t - t / t, a64**2 - 1),
        (t + np.float64(1), a64 + 1), (t + a64[0], a64 + a64[0]),
    ]
    for out, ref in cases:
        assert out.shape == ref.shape
        assert rel_err(out.numpy(), ref) < 1e-5
    for out in cases[:13]:
        assert out[0].dtype == "float32"  # Python scalars keep the tensor's dtype
    assert (t + np.ones(4)).dtype == "float64"  # arrays are not weak
    assert (t + sc.tensor(a64)).dtype == "float64"


def test_type_promotion():
    def z(dt):
        return sc.ones((2,), dtype=dt)

    expect = {
        ("int32", "float32"): "float32",
        ("int64", "float32"): "float32",
        ("uint8", "float16"): "float16",
        ("float32", "float64"): "float64",
        ("float16", "float32"): "float32",
        ("bfloat16", "float32"): "float32",
        ("float16", "bfloat16"): "float32",
        ("uint8", "int32"): "int32",
        ("int32", "int64"): "int64",
        ("int32", "uint32"): "int64",
        ("uint8", "uint32"): "uint32",
        ("bool", "int32"): "int32",
        ("bool", "float32"): "float32",
    }
    for (x, y), res in expect.items():
        assert (z(x) + z(y)).dtype == res, (x, y)
        assert (z(y) * z(x)).dtype == res, (y, x)
    # Python scalars: keep the tensor's dtype; a float next to an int tensor gives float32
    assert (z("int32") + 2).dtype == "int32"
    assert (z("uint8") * 3).dtype == "uint8"
    assert (z("int64") + 2.5).dtype == "float32"
    assert (z("float16") + 1.0).dtype == "float16"
    assert (z("bfloat16") * 2).dtype == "bfloat16"
    assert (z("float64") + 1).dtype == "float64"
    assert (2 - z("int32")).dtype == "int32"
    assert (z("int32") + 2.5).numpy().tolist() == [3.5, 3.5]
    assert sc.add(2, z("int32")).dtype == "int32"


COMPARE = {
    "equal": (np.equal, lambda x, y: x == y),
    "not_equal": (np.not_equal, lambda x, y: x != y),
    "less": (np.less, lambda x, y: x < y),
    "less_equal": (np.less_equal, lambda x, y: x <= y),
    "greater": (np.greater, lambda x, y: x > y),
    "greater_equal": (np.greater_equal, lambda x, y: x >= y),
}


@pytest.mark.parametrize("name", list(COMPARE))
@given(shapes=shapes2, seed=st.integers(0, 2**32 - 1))
def test_compare_broadcast(name, shapes, seed):
    rng = np.random.default_rng(seed)
    sa, sb = shapes.input_shapes
    a = rng.integers(-3, 3, sa).astype(np.float32)  # small ints: many ties
    b = rng.integers(-3, 3, sb).astype(np.int32)
    npf, op = COMPARE[name]
    ref = npf(a, b)
    for out in (getattr(sc, name)(sc.tensor(a), sc.tensor(b)), op(sc.tensor(a), sc.tensor(b))):
        assert out.dtype == "bool" and out.shape == ref.shape
        np.testing.assert_array_equal(out.numpy(), ref)


@pytest.mark.parametrize("name", list(COMPARE))
def test_compare_scalars_nan_and_reflected(name):
    a = np.array([-1.0, 0.0, 1.0, np.nan, np.inf], np.float32)
    t = sc.tensor(a)
    npf, op = COMPARE[name]
    np.testing.assert_array_equal(op(t, 0.0).numpy(), npf(a, 0.0))
    np.testing.assert_array_equal(op(0, t).numpy(), npf(0, a))  # reflected through Python
    np.testing.assert_array_equal(op(t, t).numpy(), npf(a, a))
    i = sc.tensor(np.array([1, 2, 3], np.uint8))
    np.testing.assert_array_equal(op(i, 2).numpy(), npf(np.array([1, 2, 3]), 2))


def test_logical_ops(rng):
    a = rng.random((3, 4)) < 0.5
    b = rng.random((4,)) < 0.5
    ta, tb = sc.tensor(a), sc.tensor(b)
    np.testing.assert_array_equal(sc.logical_and(ta, tb).numpy(), a & b)
    np.testing.assert_array_equal(sc.logical_or(ta, tb).numpy(), a | b)
    np.testing.assert_array_equal(sc.logical_not(ta).numpy(), ~a)
    np.testing.assert_array_equal((ta & tb).numpy(), a & b)
    np.testing.assert_array_equal((ta | tb).numpy(), a | b)
    np.testing.assert_array_equal((~ta).numpy(), ~a)
    x = rng.integers(-2, 3, (5,)).astype(np.float32)
    np.testing.assert_array_equal(sc.logical_not(sc.tensor(x)).numpy(), np.logical_not(x))
    np.testing.assert_array_equal(sc.logical_and(sc.tensor(x), sc.tensor(x[::-1])).numpy(),
                                  np.logical_and(x, x[::-1]))
    assert sc.logical_and(ta, tb).dtype == "bool"


# ---- unary ----------------------------------------------------------------------------
def gelu_ref(x):
    # erfc form: no cancellation in the left tail (1 + erf(x) loses it)
    ref = 0.5 * x * erfc(-x / np.sqrt(2))
    mid = np.abs(x) < 3
    assert np.allclose(ref[mid], (0.5 * x * (1 + erf(x / np.sqrt(2))))[mid], rtol=1e-12, atol=1e-300)
    return ref


UNARY = {
    "neg": (np.negative, "any"),
    "exp": (np.exp, "any"),
    "log": (np.log, "pos"),
    "sqrt": (np.sqrt, "pos"),
    "rsqrt": (lambda x: 1 / np.sqrt(x), "pos"),
    "sigmoid": (lambda x: 1 / (1 + np.exp(-x)), "any"),
    "tanh": (np.tanh, "any"),
    "gelu": (gelu_ref, "any"),
    "relu": (lambda x: np.maximum(x, 0), "any"),
    "abs": (np.abs, "any"),
    "sin": (np.sin, "any"),
    "cos": (np.cos, "any"),
    "square": (np.square, "any"),
    "sign": (np.sign, "any"),
}


def unary_input(rng, domain, shape):
    x = rng.standard_normal(shape) * 2
    if domain == "pos":
        x = np.abs(x) + 0.1
    return x


@pytest.mark.parametrize("name", list(UNARY))
def test_unary_float32(rng, name):
    ref_fn, dom = UNARY[name]
    x = unary_input(rng, dom, (7, 33)).astype(np.float32)
    out = getattr(sc, name)(sc.tensor(x))
    assert out.dtype == "float32" and out.shape == x.shape
    ref = ref_fn(x.astype(np.float64))
    assert rel_err(out.numpy(), ref) < 1e-5
    # elementwise, not just in norm
    np.testing.assert_allclose(out.numpy(), ref, rtol=2e-6, atol=2e-7)
    # non-contiguous input
    xv = x.T[::-2]
    np.testing.assert_allclose(getattr(sc, name)(sc.tensor(xv)).numpy(),
                               ref_fn(xv.astype(np.float64)), rtol=2e-6, atol=2e-7)


@pytest.mark.parametrize("name", list(UNARY))
def test_unary_float64(rng, name):
    ref_fn, dom = UNARY[name]
    x = unary_input(rng, dom, (50,))
    out = getattr(sc, name)(sc.tensor(x))
    assert out.dtype == "float64"
    np.testing.assert_allclose(out.numpy(), ref_fn(x), rtol=1e-13 if name != "gelu" else 2e-7,
                               atol=1e-300)


def test_gelu_and_sigmoid_tails():
    x = np.array([-40.0, -20.0, -8.0, -3.0, -1e-3, 0.0, 1e-3, 3.0, 8.0, 20.0, 40.0])
    for dt in (np.float32, np.float64):
        g = sc.gelu(sc.tensor(x.astype(dt))).numpy()
        assert np.all(np.isfinite(g))
        tiny = 1e-40 if dt == np.float32 else 1e-300
        np.testing.assert_allclose(g, gelu_ref(x), rtol=2e-6, atol=tiny)
        s = sc.sigmoid(sc.tensor(x.astype(dt) * 3)).numpy()
        assert np.all(np.isfinite(s)) and np.all((s >= 0) & (s <= 1))
        np.testing.assert_allclose(s, 1 / (1 + np.exp(-3 * x)), rtol=1e-6, atol=tiny)


def test_exp_float32_whole_range():
    # float32 exp is a vectorised polynomial: check it across its whole domain
    x = np.linspace(-110, 95, 400_001).astype(np.float32)
    y = sc.exp(sc.tensor(x)).numpy()
    ref = np.exp(x.astype(np.float64))
    normal = (ref > 1.2e-38) & (ref < 3.4e38)
    np.testing.assert_allclose(y[normal], ref[normal], rtol=2e-7)
    assert np.all(np.isinf(y[ref > 3.41e38]))
    small = ref <= 1.2e-38
    np.testing.assert_allclose(y[small], ref[small], rtol=0, atol=1.5e-45)  # subnormals
    np.testing.assert_array_equal(sc.exp(sc.tensor(np.float32([np.nan, np.inf, -np.inf, 0]))).numpy(),
                                  [np.nan, np.inf, 0, 1])


def test_unary_special_values():
    x = np.array([0.0, -0.0, np.inf, -np.inf, np.nan], np.float32)
    t = sc.tensor(x)
    with np.errstate(all="ignore"):
        np.testing.assert_array_equal(sc.exp(t).numpy(), np.exp(x))
        np.testing.assert_array_equal(sc.log(t).numpy(), np.log(x))
        np.testing.assert_array_equal(sc.sqrt(t).numpy(), np.sqrt(x))
        np.testing.assert_array_equal(sc.tanh(t).numpy(), np.tanh(x))
    assert np.isnan(sc.relu(t).numpy()[-1]) or sc.relu(t).numpy()[-1] == 0


@pytest.mark.parametrize("dtype", ["int32", "int64", "uint8"])
def test_unary_integers(rng, dtype):
    lo = 0 if dtype == "uint8" else -9
    x = rng.integers(lo, 10, (4, 6)).astype(dtype)
    t = sc.tensor(x)
    for name, ref in [("neg", -x), ("abs", np.abs(x)), ("square", x * x), ("sign", np.sign(x)),
                      ("relu", np.maximum(x, 0))]:
        if dtype == "uint8" and name == "neg":
            continue
        out = getattr(sc, name)(t)
        assert out.dtype == dtype, name
        np.testing.assert_array_equal(out.numpy(), ref.astype(dtype))
    for name in ["exp", "sqrt", "sin", "sigmoid"]:
        xi = np.abs(x) if name == "sqrt" else x
        out = getattr(sc, name)(sc.tensor(xi))
        assert out.dtype == "float32"
        ref = UNARY[name][0](xi.astype(np.float64))
        assert rel_err(out.numpy(), ref) < 1e-5


def test_clamp(rng):
    x = rng.standard_normal((5, 6)).astype(np.float32)
    t = sc.tensor(x)
    np.testing.assert_array_equal(sc.clamp(t, -0.5, 0.7).numpy(), np.clip(x, -0.5, 0.7))
    np.testing.assert_array_equal(sc.clamp(t, min=0.1).numpy(), np.maximum(x, np.float32(0.1)))
    np.testing.assert_array_equal(sc.clamp(t, max=-0.2).numpy(), np.minimum(x, np.float32(-0.2)))
    np.testing.assert_array_equal(sc.clamp(t).numpy(), x)
    np.testing.assert_array_equal(sc.clamp(t.T, -1, 1).numpy(), np.clip(x.T, -1, 1))
    i = rng.integers(-10, 10, (8,)).astype(np.int32)
    out = sc.clamp(sc.tensor(i), -3, 4)
    assert out.dtype == "int32"
    np.testing.assert_array_equal(out.numpy(), np.clip(i, -3, 4))
    with pytest.raises(ValueError, match="min"):
        sc.clamp(t, 1.0, -1.0)
    h = sc.clamp(t.astype("float16"), -0.5, 0.5)
    assert h.dtype == "float16"
    assert rel_err(h.numpy(), np.clip(x, -0.5, 0.5)) < 1e-2


def test_where(rng):
    c = rng.random((3, 1, 5)) < 0.5
    a = rng.standard_normal((4, 5)).astype(np.float32)
    b = rng.standard_normal((5,)).astype(np.float32)
    out = sc.where(sc.tensor(c), sc.tensor(a), sc.tensor(b))
    np.testing.assert_array_equal(out.numpy(), np.where(c, a, b))
    assert out.shape == (3, 4, 5) and out.dtype == "float32"
    np.testing.assert_array_equal(sc.where(sc.tensor(c), sc.tensor(a), 0.0).numpy(), np.where(c, a, 0))
    np.testing.assert_array_equal(sc.where(sc.tensor(c), 1.0, sc.tensor(b)).numpy(), np.where(c, 1, b))
    ia = rng.integers(0, 9, (5,)).astype(np.int64)
    out_i = sc.where(sc.tensor(c), sc.tensor(ia), sc.tensor(-ia))
    assert out_i.dtype == "int64"
    np.testing.assert_array_equal(out_i.numpy(), np.where(c, ia, -ia))
    # a numeric condition counts as "nonzero"
    cf = rng.integers(0, 2, (5,)).astype(np.float32)
    np.testing.assert_array_equal(sc.where(sc.tensor(cf), sc.tensor(a), sc.tensor(b)).numpy(),
                                  np.where(cf, a, b))
    h = sc.where(sc.tensor(c), sc.tensor(a).astype("float16"), sc.tensor(b).astype("float16"))
    assert h.dtype == "float16"
    np.testing.assert_array_equal(h.numpy(), np.where(c, a.astype(np.float16), b.astype(np.float16)))


# ---- half precision ----------------------------------------------------------------------
@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
def test_half_precision_paths(rng, dtype):
    a = rng.uniform(0.5, 2.0, (6, 7))
    b = rng.uniform(0.5, 2.0, (7,))
    ta = sc.tensor(a).astype(dtype)
    tb = sc.tensor(b).astype(dtype)
    for name, fn in BINARY.items():
        out = getattr(sc, name)(ta, tb)
        assert out.dtype == dtype, name
        assert rel_err(out.astype("float64").numpy(), fn(a, b)) < 1e-2, name
    for name, (fn, _) in UNARY.items():
        out = getattr(sc, name)(ta)
        assert out.dtype == dtype, name
        assert rel_err(out.astype("float64").numpy(), fn(a)) < 1e-2, name
    cmp = (ta > tb).numpy()
    # compare the rounded values exactly
    ar = ta.astype("float64").numpy()
    br = tb.astype("float64").numpy()
    np.testing.assert_array_equal(cmp, ar > br)


# ---- backward -----------------------------------------------------------------------------
@pytest.mark.parametrize("name", list(BINARY))
@pytest.mark.parametrize("sa,sb", [((3, 4), (3, 4)), ((2, 3, 4), (3, 1)), ((1, 4), (3, 1)),
                                   ((), (2, 3)), ((4,), (2, 1, 4))])
def test_binary_backward(rng, name, sa, sb):
    a, b = operands(rng, name, sa, sb)
    if name in ("maximum", "minimum"):
        b = b + 0.01  # no ties
    fn = getattr(sc, name)
    check_grad(fn, [a, b])


@pytest.mark.parametrize("name", list(UNARY))
def test_unary_backward(rng, name):
    if name == "sign":
        x = rng.standard_normal((3, 4)) + 0.5
        t = sc.tensor(x, requires_grad=True)
        sc.sign(t).sum().backward()
        np.testing.assert_array_equal(t.grad.numpy(), np.zeros_like(x))
        return
    _, dom = UNARY[name]
    x = unary_input(rng, dom, (3, 4))
    if name in ("relu", "abs"):
        x = np.where(np.abs(x) < 0.1, 0.5, x)  # away from the kink
    check_grad(getattr(sc, name), [x])
    check_grad(lambda t: getattr(sc, name)(t.T[::-1]), [x])  # through views


def test_operator_backward(rng):
    a = rng.uniform(0.5, 2.0, (3, 4))
    b = rng.uniform(0.5, 2.0, (4,))
    check_grad(lambda x, y: (x * 2.0 - y) / (1.5 + x * y) + 3.0 / y - (x ** 3) + 2.0 ** y, [a, b])
    check_grad(lambda x: x ** 0.5 + x ** -1.5 + x ** 2 + x ** 1, [a])
    check_grad(lambda x, y: x ** y, [a, b])
    check_grad(lambda x: -abs(x - 3.0), [a])


def test_power_backward_at_zero():
    x = sc.tensor(np.array([0.0, 2.0]), requires_grad=True)
    (x ** 0).sum().backward()
    assert x.grad.tolist() == [0.0, 0.0]
    x.grad = None
    (x ** sc.tensor(np.array([0.0, 0.0]))).sum().backward()
    assert x.grad.tolist() == [0.0, 0.0]
    x.grad = None
    (x ** 2.0 + x ** 1).sum().backward()
    assert x.grad.tolist() == [1.0, 5.0]


def test_clamp_where_backward(rng):
    x = rng.standard_normal((4, 5))
    x = np.where(np.abs(np.abs(x) - 0.5) < 0.05, 0.2, x)  # away from the bounds
    check_grad(lambda t: sc.clamp(t, -0.5, 0.5), [x])
    check_grad(lambda t: sc.clamp(t, min=-0.5), [x])
    check_grad(lambda t: sc.clamp(t, max=0.5), [x])
    c = sc.tensor(rng.random((4, 1)) < 0.5)
    b = rng.standard_normal((5,))
    check_grad(lambda p, q: sc.where(c, p, q), [x, b])
    check_grad(lambda p: sc.where(c, p, 0.0), [x])


def test_broadcast_gradient_shapes_and_dtypes(rng):
    a = sc.tensor(rng.standard_normal((2, 1, 4)).astype(np.float32), requires_grad=True)
    b = sc.tensor(rng.standard_normal((3, 1)), requires_grad=True)  # float64
    c = sc.tensor(np.float32(1.5), requires_grad=True)
    out = a * b + c
    assert out.dtype == "float64" and out.shape == (2, 3, 4)
    out.sum().backward()
    assert a.grad.shape == (2, 1, 4) and a.grad.dtype == "float32"
    assert b.grad.shape == (3, 1) and b.grad.dtype == "float64"
    assert c.grad.shape == () and c.grad.item() == 24
    bn = b.numpy()
    an = a.numpy().astype(np.float64)
    np.testing.assert_allclose(a.grad.numpy(), np.broadcast_to(bn.sum(), (2, 1, 4)), rtol=1e-6)
    np.testing.assert_allclose(b.grad.numpy(), np.full((3, 1), an.sum()), rtol=1e-6)


def test_half_backward(rng):
    x = rng.uniform(0.5, 2.0, (4, 4)).astype(np.float32)
    t = sc.tensor(x).astype("float16")
    t.requires_grad = True
    (sc.exp(t) * 2.0).sum().backward()
    assert t.grad.dtype == "float16"
    assert rel_err(t.grad.numpy(), 2 * np.exp(x)) < 1e-2
