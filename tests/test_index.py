"""Indexing, joining and scanning ops against NumPy, backward against finite differences."""
import zlib

import numpy as np
import pytest

import splatcore as sc
from helpers import check_grad, rel_err

DTYPES = ["float32", "float64", "int64"]


@pytest.fixture
def rng(request):
    # a fresh, test-specific stream (never all zeros)
    return np.random.default_rng(zlib.crc32(request.node.name.encode()))


def rand(rng, shape, dtype):
    if np.dtype(dtype).kind == "f":
        return rng.standard_normal(shape).astype(dtype)
    return rng.integers(-50, 50, size=shape).astype(dtype)


def check_equal(out, ref):
    out = out.numpy() if isinstance(out, sc.Tensor) else np.asarray(out)
    assert out.shape == ref.shape, f"shape {out.shape} != {ref.shape}"
    assert out.dtype == ref.dtype, f"dtype {out.dtype} != {ref.dtype}"
    np.testing.assert_array_equal(out, ref)


# ---- index_select ------------------------------------------------------------------
CASES = [((7,), 0), ((4, 6), 1), ((4, 6), -2), ((3, 4, 5), 0), ((3, 4, 5), -1), ((3, 4, 5), 1)]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape,axis", CASES)
def test_index_select_matches_take(rng, dtype, shape, axis):
    x = rand(rng, shape, dtype)
    n = shape[axis]
    idx = rng.integers(-n, n, size=9)  # negatives and repeats
    for index in (idx, idx.astype(np.int32), list(map(int, idx))):
        check_equal(sc.index_select(x, axis, index), np.take(x, idx, axis=axis))


def test_index_select_strided_inputs(rng):
    x = rng.standard_normal((6, 8))
    xt = x.T  # non-contiguous view
    idx = np.array([5, 0, 3, 3, -2, 1, 7])[::2]  # strided index
    check_equal(sc.index_select(xt, 0, idx), np.take(xt, idx, axis=0))
    check_equal(sc.index_select(xt, 1, idx[:2]), np.take(xt, idx[:2], axis=1))
    check_equal(sc.index_select(sc.tensor(x)[:, ::3], 1, [2, 0]), x[:, ::3][:, [2, 0]])


def test_index_select_other_dtypes(rng):
    for dt in ["bool", "uint8", "int32", "float16"]:
        x = (rng.standard_normal((5, 3)) * 10).astype(dt)
        check_equal(sc.index_select(x, 0, [4, 0, 4]), x[[4, 0, 4]])


def test_index_select_empty(rng):
    x = rng.standard_normal((4, 3))
    check_equal(sc.index_select(x, 0, np.array([], dtype=np.int64)), x[np.array([], dtype=np.int64)])
    check_equal(sc.index_select(x, 1, []), np.take(x, np.array([], dtype=np.int64), axis=1))


def test_index_select_backward_fd(rng):
    idx = np.array([2, 0, 2, -1, 2])  # repeated: gradients accumulate
    x = rng.standard_normal((4, 3))
    check_grad(lambda t: sc.index_select(t, 0, idx), [x])
    check_grad(lambda t: sc.index_select(t, -1, np.array([1, 1, 0])), [rng.standard_normal((2, 3, 3))])


def test_index_select_backward_large_matches_add_at(rng):
    # many repeats over a parallel-sized problem: grad == np.add.at(zeros, idx, w)
    x = rng.standard_normal((50, 40))
    idx = rng.integers(0, 5, size=3000)
    w = rng.standard_normal((3000, 40))
    t = sc.tensor(x, requires_grad=True)
    y = sc.index_select(t, 0, idx)
    check_equal(y.detach(), x[idx])
    (y * sc.tensor(w)).sum().backward()
    ref = np.zeros_like(x)
    np.add.at(ref, idx, w)
    assert rel_err(t.grad.numpy(), ref) < 1e-12


# ---- gather -----------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape,axis", CASES)
def test_gather_matches_take_along_axis(rng, dtype, shape, axis):
    x = rand(rng, shape, dtype)
    n = shape[axis]
    ishape = list(shape)
    ishape[axis] = 6
    idx = rng.integers(-n, n, size=ishape)
    check_equal(sc.gather(x, axis, idx), np.take_along_axis(x, idx, axis=axis))
    check_equal(sc.gather(x, axis, idx.astype(np.int32)), np.take_along_axis(x, idx, axis=axis))


def test_gather_smaller_index_torch_semantics(rng):
    # index may be smaller than x in the other dimensions (torch.gather)
    x = rng.standard_normal((5, 6))
    idx = rng.integers(0, 5, size=(3, 4))
    check_equal(sc.gather(x, 0, idx), np.take_along_axis(x[:, :4], idx, axis=0))
    idx1 = rng.integers(0, 6, size=(2, 3))
    check_equal(sc.gather(x.T, 1, idx1), np.take_along_axis(x.T[:2], idx1, axis=1))


def test_gather_long_axis_parallel(rng):
    # one (outer, inner) block and a long indexed axis: the j range is split across tasks
    x = rng.standard_normal((20000, 3))
    idx = rng.integers(-20000, 20000, size=(30000, 3))
    check_equal(sc.gather(x, 0, idx), np.take_along_axis(x, idx, axis=0))
    check_equal(sc.index_select(x, 0, idx[:, 0]), x[idx[:, 0]])


def test_gather_backward_fd(rng):
    x = rng.standard_normal((3, 4))
    idx = np.array([[0, 2, 2, 1], [2, 2, 0, 0]])
    check_grad(lambda t: sc.gather(t, 0, idx), [x])
    idx1 = rng.integers(-4, 4, size=(2, 3, 5))
    check_grad(lambda t: sc.gather(t, -1, idx1), [rng.standard_normal((2, 3, 4))])


# ---- scatter_add --------------------------------------------------------------------------
def scatter_add_ref(x, axis, idx, src):
    out = x.copy()
    grids = list(np.indices(idx.shape))
    grids[axis] = idx % x.shape[axis]
    np.add.at(out, tuple(grids), src[tuple(slice(0, s) for s in idx.shape)])
    return out


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape,axis", CASES)
def test_scatter_add_matches_add_at(rng, dtype, shape, axis):
    x = rand(rng, shape, dtype)
    n = shape[axis]
    ishape = list(shape)
    ishape[axis] = 8  # more entries than the axis: repeated targets
    idx = rng.integers(-n, n, size=ishape)
    src = rand(rng, ishape, dtype)
    x_before = x.copy()
    out = sc.scatter_add(x, axis, idx, src)
    ref = scatter_add_ref(x.astype(np.float64) if dtype != "int64" else x, axis, idx,
                          src.astype(np.float64) if dtype != "int64" else src)
    if dtype == "int64":
        check_equal(out, ref)
    else:
        assert out.dtype == dtype
        assert rel_err(out.numpy(), ref) < 1e-6
    np.testing.assert_array_equal(x, x_before)  # out of place


def test_scatter_add_src_larger_than_index(rng):
    x = rng.standard_normal((4, 5))
    src = rng.standard_normal((6, 5))
    idx = rng.integers(0, 4, size=(3, 2))
    ref = scatter_add_ref(x, 0, idx, src)
    assert rel_err(sc.scatter_add(x, 0, idx, src).numpy(), ref) < 1e-12


def test_scatter_add_parallel_no_races(rng):
    # few targets, many sources: exact in int64 only if no update is lost
    x = rng.integers(-5, 5, size=(4, 3000)).astype(np.int64)
    idx = rng.integers(0, 4, size=(400, 3000))
    src = rng.integers(-100, 100, size=(400, 3000)).astype(np.int64)
    check_equal(sc.scatter_add(x, 0, idx, src), scatter_add_ref(x, 0, idx, src))
    # 1-D along the only axis
    x1 = rng.integers(0, 9, size=7).astype(np.int64)
    idx1 = rng.integers(0, 7, size=100000)
    src1 = rng.integers(-9, 9, size=100000).astype(np.int64)
    check_equal(sc.scatter_add(x1, 0, idx1, src1), scatter_add_ref(x1, 0, idx1, src1))


def test_scatter_add_backward_fd(rng):
    x = rng.standard_normal((3, 4))
    idx = np.array([[0, 2, 2, 1], [2, 2, 0, 0]])
    src = rng.standard_normal((2, 4))
    check_grad(lambda a, b: sc.scatter_add(a, 0, idx, b), [x, src])
    # src larger than index: the unused part of src gets zero gradient
    idx2 = rng.integers(-3, 3, size=(2, 3, 2))
    check_grad(lambda a, b: sc.scatter_add(a, 1, idx2, b),
               [rng.standard_normal((2, 3, 4)), rng.standard_normal((3, 4, 2))])


def test_scatter_add_mixed_dtypes(rng):
    x = rng.standard_normal((3, 4)).astype(np.float32)
    src = rng.standard_normal((2, 4))
    idx = rng.integers(0, 3, size=(2, 4))
    out = sc.scatter_add(x, 0, idx, src)
    assert out.dtype == "float64"
    assert rel_err(out.numpy(), scatter_add_ref(x.astype(np.float64), 0, idx, src)) < 1e-7
    xh = x.astype(np.float16)
    outh = sc.scatter_add(xh, 0, idx, src.astype(np.float16))
    assert outh.dtype == "float16"
    ref = scatter_add_ref(xh.astype(np.float64), 0, idx, src.astype(np.float16).astype(np.float64))
    assert rel_err(outh.numpy(), ref) < 1e-2


# ---- masked_select / nonzero ------------------------------------------------------------------
@pytest.mark.parametrize("dtype", DTYPES)
def test_masked_select_full_and_leading(rng, dtype):
    for shape, k in [((10,), 1), ((5, 3), 2), ((5, 3), 1), ((4, 3, 2), 3), ((4, 3, 2), 2), ((4, 3, 2), 1)]:
        x = rand(rng, shape, dtype)
        mask = rng.random(shape[:k]) < 0.5
        check_equal(sc.masked_select(x, mask), x[mask])
    x = rand(rng, (6, 3), dtype)
    check_equal(sc.masked_select(x, np.zeros(6, bool)), x[np.zeros(6, bool)])
    check_equal(sc.masked_select(x, np.ones((6, 3), bool)), x[np.ones((6, 3), bool)])


def test_masked_select_strided(rng):
    x = rng.standard_normal((5, 6))
    mask = rng.random((6, 5)) < 0.5
    check_equal(sc.masked_select(x.T, mask), x.T[mask])
    m1 = rng.random(12) < 0.5
    check_equal(sc.masked_select(x.T, m1[::2]), x.T[m1[::2]])


def test_masked_select_backward_fd(rng):
    x = rng.standard_normal((5, 3))
    mask = np.array([True, False, True, True, False])
    check_grad(lambda t: sc.masked_select(t, mask), [x])
    mask2 = rng.random((5, 3)) < 0.5
    mask2[0, 0] = True
    check_grad(lambda t: sc.masked_select(t, mask2), [x])


def test_nonzero(rng):
    for n in [0, 1, 17, 200_003]:  # the largest spans several parallel chunks
        m = rng.random(n) < 0.3
        check_equal(sc.nonzero(m), np.nonzero(m)[0].astype(np.int64))
    v = rng.integers(-1, 2, size=50)
    check_equal(sc.nonzero(v), np.nonzero(v)[0].astype(np.int64))


# ---- __getitem__ with index arrays ------------------------------------------------------------------
def test_getitem_index_arrays(rng):
    x = rng.standard_normal((5, 3))
    t = sc.tensor(x)
    check_equal(t[[2, 0, 2]], x[[2, 0, 2]])
    check_equal(t[np.array([1, -1])], x[np.array([1, -1])])
    check_equal(t[np.array([1, -1], dtype=np.int32)], x[np.array([1, -1])])
    mask = x > 0.1
    check_equal(t[mask], x[mask])
    rows = rng.random(5) < 0.5
    check_equal(t[rows], x[rows])
    check_equal(t[sc.tensor(rows)], x[rows])
    idx2 = np.array([[0, 4], [3, 3]])
    check_equal(t[idx2], x[idx2])
    with pytest.raises(IndexError, match="size 5"):
        t[[5]]
    with pytest.raises(IndexError):
        t[np.array([0.0, 1.0])]


def test_getitem_backward(rng):
    x = rng.standard_normal((5, 3))
    check_grad(lambda t: t[[2, 0, 2]], [x])
    check_grad(lambda t: t[np.array([True, False, True, False, True])], [x])


# ---- concat / stack ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("axis", [0, 1, 2, -1, -3])
def test_concat_matches_numpy(rng, dtype, axis):
    base = [3, 4, 2]
    xs = []
    for n in [2, 1, 3]:
        s = list(base)
        s[axis] = n
        xs.append(rand(rng, s, dtype))
    check_equal(sc.concat(xs, axis), np.concatenate(xs, axis))
    check_equal(sc.concatenate([sc.tensor(a) for a in xs], axis=axis), np.concatenate(xs, axis))


def test_concat_strided_empty_and_single(rng):
    a = rng.standard_normal((4, 3))
    b = rng.standard_normal((3, 2))
    check_equal(sc.concat([a, b.T, np.zeros((0, 3))], 0), np.concatenate([a, b.T, np.zeros((0, 3))], 0))
    check_equal(sc.concat([a]), a)
    check_equal(sc.concat([[1, 2], [3]]), np.array([1, 2, 3]))


def test_concat_dtype_promotion(rng):
    a = rng.standard_normal((2, 2)).astype(np.float32)
    b = rng.standard_normal((1, 2))
    i32 = rng.integers(0, 9, size=(1, 2)).astype(np.int32)
    i64 = rng.integers(0, 9, size=(1, 2)).astype(np.int64)
    out = sc.concat([a, b])
    assert out.dtype == "float64"
    assert rel_err(out.numpy(), np.concatenate([a, b])) < 1e-15
    check_equal(sc.concat([i32, i64]), np.concatenate([i32, i64]))
    out = sc.concat([a, i64])  # float beats int (PyTorch-style promotion)
    assert out.dtype == "float32"
    assert rel_err(out.numpy(), np.concatenate([a, i64]).astype(np.float32)) == 0
    check_equal(sc.concat([np.array([True]), np.array([False])]), np.array([True, False]))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("axis", [0, 1, 2, -1, -2])
def test_stack_matches_numpy(rng, dtype, axis):
    xs = [rand(rng, (3, 4), dtype) for _ in range(3)]
    check_equal(sc.stack(xs, axis), np.stack(xs, axis))


def test_stack_scalars_and_strided(rng):
    check_equal(sc.stack([np.array(1.5), np.array(-2.0)]), np.array([1.5, -2.0]))
    a = rng.standard_normal((3, 2))
    check_equal(sc.stack([a.T, a.T], 1), np.stack([a.T, a.T], 1))


def test_concat_stack_backward_fd(rng):
    a, b, c = rng.standard_normal((2, 3)), rng.standard_normal((1, 3)), rng.standard_normal((3, 3))
    check_grad(lambda x, y, z: sc.concat([x, y, z], 0), [a, b, c])
    check_grad(lambda x, y: sc.concat([x, y], -1), [a, rng.standard_normal((2, 2))])
    check_grad(lambda x, y: sc.stack([x, y], 1), [a, rng.standard_normal((2, 3))])
    check_grad(lambda x, y: sc.stack([x, y], -1), [a, rng.standard_normal((2, 3))])


def test_concat_backward_mixed_dtype(rng):
    a = sc.tensor(rng.standard_normal((2, 2)).astype(np.float32), requires_grad=True)
    b = sc.tensor(rng.standard_normal((1, 2)), requires_grad=True)
    w = rng.standard_normal((3, 2))
    (sc.concat([a, b]) * sc.tensor(w)).sum().backward()
    assert a.grad.dtype == "float32" and b.grad.dtype == "float64"
    assert rel_err(a.grad.numpy(), w[:2]) < 1e-7
    assert rel_err(b.grad.numpy(), w[2:]) < 1e-15


# ---- cumsum ----------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape,axis", CASES + [((3, 600), 0), ((2, 300, 5), 1)])
def test_cumsum_matches_numpy(rng, dtype, shape, axis):
    x = rand(rng, shape, dtype)
    out = sc.cumsum(x, axis)
    if dtype == "int64":
        check_equal(out, np.cumsum(x, axis))
    else:
        assert out.dtype == dtype
        assert rel_err(out.numpy(), np.cumsum(x.astype(np.float64), axis)) < 1e-6


def test_cumsum_float32_accumulates_in_double(rng):
    x = (rng.random(200_000) + 0.5).astype(np.float32)
    ref = np.cumsum(x.astype(np.float64))
    out = sc.cumsum(x, 0).numpy()
    # every prefix is the float32 rounding of the exact sum
    assert np.max(np.abs(out - ref) / ref) < 1e-7


def test_cumsum_integer_dtypes(rng):
    for dt in ["bool", "uint8", "int32"]:
        x = rng.integers(0, 2 if dt == "bool" else 100, size=(4, 5)).astype(dt)
        out = sc.cumsum(x, 1)
        assert out.dtype == "int64"
        np.testing.assert_array_equal(out.numpy(), np.cumsum(x, 1))
    x = rng.standard_normal((3, 4))
    assert rel_err(sc.cumsum(x).numpy(), np.cumsum(x)) < 1e-15  # axis=None flattens
    assert rel_err(sc.cumsum(np.float64(2.5), 0).numpy(), np.cumsum(np.array(2.5), axis=0)) == 0


def test_cumsum_backward_fd(rng):
    for shape, axis in [((6,), 0), ((3, 4), 1), ((3, 4), 0), ((2, 3, 4), -2)]:
        check_grad(lambda t: sc.cumsum(t, axis), [rng.standard_normal(shape)])
    check_grad(lambda t: sc.cumsum(t.T, 1), [rng.standard_normal((4, 3))])


# ---- errors -------------------------------------------------------------------------------------------------------
def test_index_errors(rng):
    x = rng.standard_normal((5, 3))
    with pytest.raises(IndexError, match=r"index 5 is out of bounds for axis 0 with size 5"):
        sc.index_select(x, 0, [0, 5])
    with pytest.raises(IndexError, match=r"index -4 .* axis 1 with size 3"):
        sc.index_select(x, 1, [-4])
    with pytest.raises(IndexError, match="out of bounds"):
        sc.index_select(x, 0, [10**15])  # checked before any access
    with pytest.raises(TypeError, match=r"index must be an integer tensor .* got float32"):
        sc.index_select(x, 0, [0.0, 1.0])
    with pytest.raises(TypeError, match="bool"):
        sc.index_select(x, 0, np.array([True, False]))
    with pytest.raises(ValueError, match=r"index must be 1-D, got shape \(2, 1\)"):
        sc.index_select(x, 0, np.array([[0], [1]]))
    with pytest.raises(IndexError, match="axis 2"):
        sc.index_select(x, 2, [0])
    with pytest.raises(IndexError, match="out of bounds for axis 0 with size 0"):
        sc.index_select(np.zeros((0, 3)), 0, [0])


def test_gather_scatter_errors(rng):
    x = rng.standard_normal((4, 3))
    with pytest.raises(ValueError, match=r"index shape \(2,\) and x shape \(4, 3\)"):
        sc.gather(x, 0, np.array([0, 1]))
    with pytest.raises(ValueError, match=r"index shape \(2, 4\) exceeds x shape \(4, 3\)"):
        sc.gather(x, 0, np.zeros((2, 4), np.int64))
    with pytest.raises(IndexError, match="index 4 is out of bounds for axis 0 with size 4"):
        sc.gather(x, 0, np.array([[0, 4, 1]]))
    with pytest.raises(TypeError, match="float64"):
        sc.gather(x, 0, np.zeros((1, 3)))
    with pytest.raises(ValueError, match=r"index shape \(3, 3\) exceeds src shape \(2, 3\)"):
        sc.scatter_add(x, 0, np.zeros((3, 3), np.int64), rng.standard_normal((2, 3)))
    with pytest.raises(IndexError, match="index -5 is out of bounds for axis 0 with size 4"):
        sc.scatter_add(x, 0, np.array([[-5, 0, 0]]), rng.standard_normal((1, 3)))
    with pytest.raises(ValueError, match="at least 1 dimension"):
        sc.gather(np.float64(1.0), 0, np.int64(0))


def test_mask_errors(rng):
    x = rng.standard_normal((4, 3))
    with pytest.raises(IndexError, match=r"mask shape \(3,\) .* shape of x \(4, 3\)"):
        sc.masked_select(x, np.ones(3, bool))
    with pytest.raises(IndexError, match=r"mask shape \(4, 3, 1\)"):
        sc.masked_select(x, np.ones((4, 3, 1), bool))
    with pytest.raises(TypeError, match="mask must be a bool tensor, got int64"):
        sc.masked_select(x, np.ones(4, np.int64))
    with pytest.raises(IndexError, match=r"\(3,\)"):
        sc.tensor(x)[np.ones(3, bool)]
    with pytest.raises(ValueError, match=r"1-D, got shape \(2, 2\)"):
        sc.nonzero(np.ones((2, 2), bool))


def test_join_errors(rng):
    a = rng.standard_normal((2, 3))
    with pytest.raises(ValueError, match="at least one tensor"):
        sc.concat([])
    with pytest.raises(ValueError, match="at least one tensor"):
        sc.stack([])
    with pytest.raises(ValueError, match=r"input 0 has shape \(2, 3\) but input 2 has shape \(2, 4\)"):
        sc.concat([a, a, rng.standard_normal((2, 4))], 0)
    with pytest.raises(ValueError, match=r"input 1 has shape \(3,\)"):
        sc.concat([a, rng.standard_normal(3)])
    with pytest.raises(ValueError, match="zero-dimensional"):
        sc.concat([np.float64(1.0), np.float64(2.0)])
    with pytest.raises(ValueError, match=r"input 0 has shape \(2, 3\) but input 1 has shape \(3, 2\)"):
        sc.stack([a, a.T])
    with pytest.raises(IndexError, match="axis 2"):
        sc.concat([a, a], 2)
    with pytest.raises(IndexError, match="axis 3"):
        sc.stack([a, a], 3)
    with pytest.raises(TypeError, match="list or tuple"):
        sc.concat(sc.tensor(a))


def test_cumsum_errors(rng):
    with pytest.raises(IndexError, match="axis 2"):
        sc.cumsum(rng.standard_normal((2, 3)), 2)
