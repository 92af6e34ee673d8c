"""Reductions (sum/mean/max/min/norm/argmax/argmin), softmax, log_softmax:
values vs NumPy over every kind of axis argument, non-contiguous inputs, the
chunked parallel path, and backward vs finite differences."""
import numpy as np
import pytest

import splatcore as sc
from helpers import check_grad, rel_err

REDUCE = {
    "sum": np.sum,
    "mean": np.mean,
    "max": np.max,
    "min": np.min,
    "norm": lambda x, axis=None, keepdims=False: np.sqrt(np.sum(x * x, axis=axis, keepdims=keepdims)),
}
AXES = [None, 0, 1, 2, -1, -2, (0, 2), (2, 0), (-1, 0), (0, 1, 2), ()]


def views(rng):
    base = rng.standard_normal((6, 7, 8))
    return {
        "contiguous": base[:3, :4, :5].copy(),
        "strided": base[::2, 1:5, ::-1][:, :, :5],
        "transposed": base[:5, :4, :3].transpose(2, 1, 0),
        "broadcast": np.broadcast_to(base[:1, :4, :5], (3, 4, 5)),
    }


@pytest.mark.parametrize("name", list(REDUCE))
@pytest.mark.parametrize("keepdims", [False, True])
def test_reductions_vs_numpy(rng, name, keepdims):
    fn = getattr(sc, name)
    for kind, x in views(rng).items():
        for axis in AXES:
            if axis == ():
                continue  # empty tuple = all axes here (NumPy: none); checked separately
            ref = REDUCE[name](x, axis=axis, keepdims=keepdims)
            for dt, tol in (("float64", 1e-12), ("float32", 1e-4)):
                out = fn(sc.tensor(x.astype(dt)), axis=axis, keepdims=keepdims)
                assert out.dtype == dt
                assert out.shape == np.shape(ref), (kind, axis)
                assert rel_err(out.numpy(), ref) < tol, (kind, axis, dt)
                if name in ("max", "min"):
                    np.testing.assert_array_equal(out.numpy(), REDUCE[name](x.astype(dt), axis=axis, keepdims=keepdims))
            # the method form agrees
            if name in ("sum", "mean", "max", "min"):
                m = getattr(sc.tensor(x), name)(axis=axis, keepdims=keepdims)
                np.testing.assert_allclose(m.numpy(), ref, rtol=1e-12)


def test_max_min_each_row_independent():
    # the first row's extreme must not leak into the others
    x = np.array([[5.0, 1.0], [2.0, 3.0], [-1.0, -4.0]])
    np.testing.assert_array_equal(sc.max(sc.tensor(x), axis=1).numpy(), [5, 3, -1])
    np.testing.assert_array_equal(sc.min(sc.tensor(x[::-1]), axis=1).numpy(), [-4, 2, 1])
    np.testing.assert_array_equal(sc.max(sc.tensor(-np.inf * np.ones((2, 3))), axis=0).numpy(),
                                  [-np.inf] * 3)


@pytest.mark.parametrize("dtype", ["uint8", "int32", "uint32", "int64", "bool"])
def test_integer_reductions(rng, dtype):
    x = rng.integers(0, 100, (4, 5, 6)).astype(dtype)
    t = sc.tensor(x)
    for axis in [None, 1, (0, 2)]:
        s = sc.sum(t, axis=axis)
        np.testing.assert_array_equal(s.numpy(), np.sum(x, axis=axis))
        assert s.dtype == "int64"  # integer sums do not wrap at the input width
        np.testing.assert_array_equal(sc.max(t, axis=axis).numpy(), np.max(x, axis=axis))
        np.testing.assert_array_equal(sc.min(t, axis=axis).numpy(), np.min(x, axis=axis))
        m = sc.mean(t, axis=axis)
        assert m.dtype == "float32"
        assert rel_err(m.numpy(), np.mean(x, axis=axis)) < 1e-6
    assert sc.max(t).dtype == dtype


def test_sum_of_large_uint8_does_not_wrap():
    x = np.full(1000, 255, np.uint8)
    assert sc.sum(sc.tensor(x)).item() == 255000
    y = np.full(10, 2**32 - 1, np.uint32)
    assert sc.sum(sc.tensor(y)).item() == 10 * (2**32 - 1)


@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
def test_half_reductions(rng, dtype):
    x = rng.standard_normal((8, 300))
    t = sc.tensor(x).astype(dtype)
    xr = t.astype("float64").numpy()
    for name in REDUCE:
        out = getattr(sc, name)(t, axis=1)
        assert out.dtype == dtype
        assert rel_err(out.astype("float64").numpy(), REDUCE[name](xr, axis=1)) < 1e-2, name


def test_big_sum_parallel_chunks(rng):
    n = 4 * 1024 * 1024 + 13
    x = rng.standard_normal(n).astype(np.float32) + 0.25
    t = sc.tensor(x)
    ref = np.sum(x.astype(np.float64))
    assert rel_err(sc.sum(t).numpy(), ref) < 1e-6  # float64 accumulation
    assert rel_err(sc.mean(t).numpy(), ref / n) < 1e-6
    assert sc.max(t).item() == x.max() and sc.min(t).item() == x.min()
    assert sc.argmax(t).item() == np.argmax(x) and sc.argmin(t).item() == np.argmin(x)
    # few long rows: chunks within a row
    x2 = x[: 2 * 1_000_000].reshape(2, -1)
    assert rel_err(sc.sum(sc.tensor(x2), axis=1).numpy(), x2.astype(np.float64).sum(1)) < 1e-6
    np.testing.assert_array_equal(sc.max(sc.tensor(x2), axis=1).numpy(), x2.max(1))
    np.testing.assert_array_equal(sc.min(sc.tensor(x2), axis=-1).numpy(), x2.min(1))
    # same result with one thread
    before = sc.num_threads()
    try:
        sc.set_num_threads(1)
        one = sc.sum(t).item()
    finally:
        sc.set_num_threads(before)
    assert abs(one - sc.sum(t).item()) <= 1e-6 * abs(one)


@pytest.mark.parametrize("shape,axis", [((3, 50, 2500), 1), ((2000, 3000), 0), ((7, 1, 5, 1030), (1, 2)),
                                        ((4, 3, 2, 1100), (0, 1)), ((1, 6, 1), 1)])
def test_leading_and_middle_axes_in_place_path(rng, shape, axis):
    # contiguous inputs reduced over a block of leading / middle axes are read
    # in place, column-wise, in blocks of outputs: check against NumPy
    x = rng.standard_normal(shape).astype(np.float32)
    t = sc.tensor(x)
    for keepdims in (False, True):
        ref = x.astype(np.float64).sum(axis=axis, keepdims=keepdims)
        assert rel_err(sc.sum(t, axis=axis, keepdims=keepdims).numpy(), ref) < 1e-6
        np.testing.assert_array_equal(sc.max(t, axis=axis, keepdims=keepdims).numpy(),
                                      x.max(axis=axis, keepdims=keepdims))
        np.testing.assert_array_equal(sc.min(t, axis=axis, keepdims=keepdims).numpy(),
                                      x.min(axis=axis, keepdims=keepdims))
    xi = rng.integers(-100, 100, shape).astype(np.int32)
    np.testing.assert_array_equal(sc.sum(sc.tensor(xi), axis=axis).numpy(), xi.sum(axis=axis))


def test_reduce_empty_axes_and_zero_size():
    x = sc.zeros((3, 0, 2))
    assert sc.sum(x).item() == 0.0
    s = sc.sum(x, axis=1)
    assert s.shape == (3, 2) and np.all(s.numpy() == 0)
    assert sc.sum(x, axis=0).shape == (0, 2)
    assert sc.sum(x, axis=1, keepdims=True).shape == (3, 1, 2)
    with pytest.raises(ValueError, match="empty|zero-size"):
        sc.max(x)
    with pytest.raises(ValueError, match="empty|zero-size"):
        sc.argmax(x)
    # 0-d input
    z = sc.tensor(2.5)
    assert sc.sum(z).item() == 2.5 and sc.max(z).item() == 2.5 and sc.argmax(z).item() == 0
    assert sc.sum(z, axis=0).item() == 2.5


def test_reduce_repeated_and_bad_axes():
    t = sc.zeros((2, 3))
    with pytest.raises(ValueError, match="repeated"):
        sc.sum(t, axis=(1, -1))
    with pytest.raises(IndexError, match="2"):
        sc.sum(t, axis=2)
    with pytest.raises(IndexError):
        sc.argmax(t, axis=-3)


@pytest.mark.parametrize("fname", ["argmax", "argmin"])
def test_argmax_argmin(rng, fname):
    npf = getattr(np, fname)
    for kind, x in views(rng).items():
        if kind == "broadcast":
            continue  # ties: NumPy picks the first, so do we, but keep inputs tie-free
        t = sc.tensor(x)
        for axis in [None, 0, 1, 2, -1]:
            for keepdims in (False, True):
                out = getattr(sc, fname)(t, axis=axis, keepdims=keepdims)
                ref = npf(x, axis=axis, keepdims=keepdims)
                assert out.dtype == "int64"
                assert out.shape == np.shape(ref), (axis, keepdims)
                np.testing.assert_array_equal(out.numpy(), ref)
        if fname == "argmax":
            np.testing.assert_array_equal(t.argmax(axis=1).numpy(), np.argmax(x, axis=1))
        else:
            np.testing.assert_array_equal(t.argmin(axis=1).numpy(), np.argmin(x, axis=1))
    ties = np.array([[1, 3, 3], [2, 2, 0]], np.int32)
    np.testing.assert_array_equal(getattr(sc, fname)(sc.tensor(ties), axis=1).numpy(), npf(ties, axis=1))
    nan = np.array([1.0, np.nan, 5.0, np.nan])
    assert getattr(sc, fname)(sc.tensor(nan)).item() == npf(nan)


def test_nan_propagates_like_numpy():
    x = np.array([[1.0, np.nan, 3.0], [4.0, 5.0, 6.0]])
    for name in ("max", "min", "sum"):
        np.testing.assert_array_equal(getattr(sc, name)(sc.tensor(x), axis=1).numpy(),
                                      getattr(np, name)(x, axis=1))


# ---- softmax ------------------------------------------------------------------------
def softmax_ref(x, axis):
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def log_softmax_ref(x, axis):
    m = x.max(axis=axis, keepdims=True)
    return x - m - np.log(np.exp(x - m).sum(axis=axis, keepdims=True))


@pytest.mark.parametrize("axis", [0, 1, 2, -1, -3])
def test_softmax_log_softmax(rng, axis):
    x = rng.standard_normal((4, 5, 6)) * 3
    for dt, tol in (("float32", 1e-5), ("float64", 1e-12)):
        t = sc.tensor(x.astype(dt))
        s = sc.softmax(t, axis=axis)
        ls = sc.log_softmax(t, axis=axis)
        assert s.dtype == dt and ls.dtype == dt and s.shape == x.shape
        assert rel_err(s.numpy(), softmax_ref(x, axis)) < tol
        assert rel_err(ls.numpy(), log_softmax_ref(x, axis)) < tol
        np.testing.assert_allclose(s.numpy().sum(axis=axis), 1.0, rtol=1e-5)
    # non-contiguous input
    xv = x.transpose(2, 0, 1)[::-1]
    assert rel_err(sc.softmax(sc.tensor(xv), axis=axis).numpy(), softmax_ref(xv, axis)) < 1e-12


def test_softmax_large_values_stable():
    x = np.array([[1000.0, 1001.0, 1002.0], [-1000.0, -1000.0, -999.0], [1e30, 0.0, -1e30]])
    for dt in ("float32", "float64"):
        s = sc.softmax(sc.tensor(x.astype(dt)), axis=-1).numpy()
        ls = sc.log_softmax(sc.tensor(x.astype(dt)), axis=-1).numpy()
        assert np.all(np.isfinite(s))
        assert np.all(np.isfinite(ls[:2]))
        assert rel_err(s, softmax_ref(x, -1)) < 1e-6
        assert rel_err(ls[:2], log_softmax_ref(x[:2], -1)) < 1e-6
    neg_inf = np.array([[-np.inf, 0.0, 1.0]])
    np.testing.assert_allclose(sc.softmax(sc.tensor(neg_inf)).numpy(), softmax_ref(neg_inf, -1))


def test_softmax_default_axis_and_halves(rng):
    x = rng.standard_normal((3, 7))
    np.testing.assert_allclose(sc.softmax(sc.tensor(x)).numpy(), softmax_ref(x, -1), rtol=1e-12)
    for dt in ("float16", "bfloat16"):
        s = sc.softmax(sc.tensor(x).astype(dt), axis=0)
        assert s.dtype == dt
        assert rel_err(s.astype("float64").numpy(), softmax_ref(x, 0)) < 1e-2


# ---- backward ----------------------------------------------------------------------------
@pytest.mark.parametrize("name", list(REDUCE))
@pytest.mark.parametrize("axis,keepdims", [(None, False), (1, False), ((0, 2), True), (-1, True)])
def test_reduction_backward(rng, name, axis, keepdims):
    x = rng.standard_normal((3, 4, 5))
    fn = getattr(sc, name)
    check_grad(lambda t: fn(t, axis=axis, keepdims=keepdims), [x])
    # through a non-contiguous view
    check_grad(lambda t: fn(t.permute(2, 0, 1)[:, ::2], axis=axis, keepdims=keepdims), [x])


def test_norm_backward_at_zero_is_zero():
    x = sc.tensor(np.array([[0.0, 0.0], [3.0, 4.0]]), requires_grad=True)
    sc.norm(x, axis=1).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [[0, 0], [0.6, 0.8]])


def test_max_backward_ties_split_evenly():
    t = sc.tensor(np.array([[1.0, 3.0, 3.0], [2.0, 0.0, 1.0]]), requires_grad=True)
    sc.max(t, axis=1).sum().backward()
    np.testing.assert_array_equal(t.grad.numpy(), [[0, 0.5, 0.5], [1, 0, 0]])


@pytest.mark.parametrize("fname", ["softmax", "log_softmax"])
@pytest.mark.parametrize("axis", [0, 1, -1])
def test_softmax_backward(rng, fname, axis):
    x = rng.standard_normal((3, 4, 5))
    fn = getattr(sc, fname)
    check_grad(lambda t: fn(t, axis=axis), [x])
    check_grad(lambda t: fn(t.T * 2.0, axis=axis), [x])
