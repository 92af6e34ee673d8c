"""Tensor core: creation, dtypes, casts, NumPy/DLPack zero-copy interop, views,
__setitem__, and the small Python protocol (repr, item, tolist, len)."""
import gc

import numpy as np
import pytest

import splatcore as sc
from helpers import rel_err

NUMPY_DTYPES = ["bool", "uint8", "int32", "uint32", "int64", "float16", "float32", "float64"]
ALL_DTYPES = NUMPY_DTYPES + ["bfloat16"]


def random_array(rng, shape, dtype):
    dtype = np.dtype(dtype)
    if dtype == np.bool_:
        return rng.random(shape) < 0.5
    if dtype.kind == "u":
        return rng.integers(0, 200, size=shape).astype(dtype)
    if dtype.kind == "i":
        return rng.integers(-1000, 1000, size=shape).astype(dtype)
    return (rng.standard_normal(shape) * 10).astype(dtype)


def bf16_round(x):
    """float32 -> bfloat16 (round to nearest even) -> float32, in NumPy."""
    b = np.asarray(x, dtype=np.float32).view(np.uint32).astype(np.uint64)
    b = (b + 0x7FFF + ((b >> 16) & 1)) >> 16 << 16
    return b.astype(np.uint32).view(np.float32)


# ---- creation -----------------------------------------------------------------
@pytest.mark.parametrize("dtype", ALL_DTYPES)
def test_zeros_ones_full_empty(dtype):
    for fn, val in [(sc.zeros, 0), (sc.ones, 1)]:
        t = fn((2, 3, 4), dtype=dtype)
        assert t.shape == (2, 3, 4) and t.dtype == dtype and t.size == 24
        ref = np.full((2, 3, 4), val, dtype=np.float32)
        np.testing.assert_array_equal(t.astype("float32").numpy(), ref)
    t = sc.full((5,), 3, dtype=dtype)
    expect = 1 if dtype == "bool" else 3
    np.testing.assert_array_equal(t.astype("float64").numpy(), np.full(5, expect, np.float64))
    e = sc.empty((3, 0, 2), dtype=dtype)
    assert e.shape == (3, 0, 2) and e.size == 0 and e.dtype == dtype


def test_creation_shapes_and_dtype_spellings():
    assert sc.zeros(4).shape == (4,)
    assert sc.zeros(()).shape == () and sc.zeros(()).item() == 0.0
    assert sc.zeros([2, 2], dtype=np.float64).dtype == "float64"
    assert sc.zeros(2, dtype=np.int32).dtype == "int32"
    assert sc.zeros(2, dtype=bool).dtype == "bool"
    assert sc.zeros(2, dtype=float).dtype == "float64"
    assert sc.zeros(2, dtype=sc.bfloat16).dtype == "bfloat16"
    assert sc.full((2,), 2.5).numpy().tolist() == [2.5, 2.5]


@pytest.mark.parametrize(
    "args,dtype",
    [((10,), "float32"), ((2, 9), "int64"), ((0, 1, 0.125), "float64"), ((5, -3, -0.7), "float32"),
     ((3, 3), "int32"), ((1.5, 7.5, 2), "float64"), ((-4, 4, 3), "int64")],
)
def test_arange(args, dtype):
    t = sc.arange(*args, dtype=dtype)
    ref = np.arange(*args, dtype=np.float64)
    assert t.shape == ref.shape and t.dtype == dtype
    np.testing.assert_allclose(t.numpy(), ref.astype(dtype), rtol=1e-6)


def test_arange_bad_step_and_bounds():
    with pytest.raises(ValueError, match="step"):
        sc.arange(0, 5, 0)
    with pytest.raises(ValueError, match="arange"):
        sc.arange(0, float("inf"))
    with pytest.raises(ValueError, match="arange"):
        sc.arange(0, float("nan"))


@pytest.mark.parametrize("fn", [sc.rand, sc.randn])
def test_random_deterministic_and_thread_independent(fn):
    n = 300_001  # several parallel chunks
    a = fn((n,), seed=7).numpy()
    b = fn((n,), seed=7).numpy()
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, fn((n,), seed=8).numpy())
    before = sc.num_threads()
    try:
        sc.set_num_threads(1)
        c = fn((n,), seed=7).numpy()
        sc.set_num_threads(3)
        d = fn((n,), seed=7).numpy()
    finally:
        sc.set_num_threads(before)
    assert sc.num_threads() == before
    np.testing.assert_array_equal(a, c)
    np.testing.assert_array_equal(a, d)
    # the values depend on the element index only, not on the shape
    np.testing.assert_array_equal(fn((3, 100), seed=7).numpy().ravel(), a[:300])


def test_random_moments_and_dtypes():
    n = 1_000_000
    u = sc.rand((n,), seed=1, dtype="float64").numpy()
    assert u.min() >= 0.0 and u.max() < 1.0
    # mean 1/2 (sd of the mean 0.29/sqrt(n)), variance 1/12
    assert abs(u.mean() - 0.5) < 5 * 0.2887 / np.sqrt(n)
    assert abs(u.var() - 1 / 12) < 1e-3
    hist = np.histogram(u, bins=10, range=(0, 1))[0]
    assert np.all(np.abs(hist - n / 10) < 5 * np.sqrt(n / 10))
    z = sc.randn((n,), seed=2, dtype="float64").numpy()
    assert abs(z.mean()) < 5 / np.sqrt(n)
    assert abs(z.std() - 1) < 5 * np.sqrt(0.5 / n)
    assert abs(np.mean(z**3)) < 0.02 and abs(np.mean(z**4) - 3) < 0.05  # skew, kurtosis
    assert abs(np.corrcoef(z[:-1], z[1:])[0, 1]) < 0.01
    for dt in ["float16", "bfloat16", "float32", "float64"]:
        assert sc.rand((4,), dtype=dt).dtype == dt
        assert sc.randn((4,), dtype=dt).dtype == dt
    with pytest.raises(TypeError, match="int32"):
        sc.rand((3,), dtype="int32")


# ---- dtypes, round trips, casts ------------------------------------------------
@pytest.mark.parametrize("dtype", NUMPY_DTYPES)
def test_numpy_roundtrip_every_dtype(rng, dtype):
    a = random_array(rng, (3, 5), dtype)
    t = sc.tensor(a)
    assert t.dtype == dtype and t.shape == (3, 5) and t.itemsize == a.itemsize
    out = t.numpy()
    assert out.dtype == a.dtype
    np.testing.assert_array_equal(out, a)
    assert np.shares_memory(out, a)


def test_bfloat16_roundtrip(rng):
    a = (rng.standard_normal(1000) * 100).astype(np.float32)
    a[:4] = [0.0, -0.0, np.inf, -np.inf]
    t = sc.tensor(a).astype("bfloat16")
    assert t.dtype == "bfloat16" and t.itemsize == 2
    back = t.astype("float32").numpy()
    np.testing.assert_array_equal(back, bf16_round(a))
    assert rel_err(back[4:], a[4:]) < 1e-2
    assert np.isnan(sc.tensor(np.array([np.nan], np.float32)).astype("bfloat16").astype("float32").item())
    with pytest.raises(TypeError, match="bfloat16"):
        t.numpy()
    assert t.tolist() == pytest.approx(bf16_round(a).tolist())


def test_float16_conversion_matches_numpy(rng):
    a = np.concatenate([
        rng.standard_normal(5000).astype(np.float32) * 1000,
        rng.standard_normal(2000).astype(np.float32) * 1e-6,  # subnormal halves
        np.array([65504, 65519, 65520, 1e6, -1e6, 6e-8, 2.9e-8, 3e-8, 0, -0.0, np.inf, -np.inf],
                 np.float32),
    ])
    h = sc.tensor(a).astype("float16").numpy()
    with np.errstate(over="ignore"):
        ref = a.astype(np.float16)
    np.testing.assert_array_equal(h.view(np.uint16), ref.view(np.uint16))
    # and back to float32 exactly
    np.testing.assert_array_equal(sc.tensor(h).astype("float32").numpy(), h.astype(np.float32))
    assert np.isnan(sc.tensor(np.array([np.nan], np.float32)).astype("float16").numpy()[0])


@pytest.mark.parametrize("src", NUMPY_DTYPES)
@pytest.mark.parametrize("dst", NUMPY_DTYPES)
def test_astype_matches_numpy(rng, src, dst):
    # values every dtype represents: small non-negative, fractional for floats
    a = (rng.random(64) * 100)
    a[:3] = [0, 1, 99.5]
    a = a.astype(src)
    if np.dtype(src).kind in "fi" and np.dtype(dst).kind in "fi":
        a[5] = -a[5]
    out = sc.tensor(a).astype(dst)
    assert out.dtype == dst
    np.testing.assert_array_equal(out.numpy(), a.astype(dst))


def test_astype_noncontiguous_and_same_dtype(rng):
    a = rng.standard_normal((6, 8)).astype(np.float64)[::2, ::-3]
    out = sc.tensor(a).astype("float32")
    np.testing.assert_array_equal(out.numpy(), a.astype(np.float32))
    t = sc.tensor(a)
    assert t.astype("float64").data_ptr == t.data_ptr  # no-op cast is the same tensor


# ---- zero-copy interop ---------------------------------------------------------
def test_from_numpy_shares_memory(rng):
    a = rng.standard_normal((4, 5)).astype(np.float32)
    for t in (sc.from_numpy(a), sc.tensor(a)):
        assert t.data_ptr == a.ctypes.data
        a[1, 2] = 123.0
        assert t[1, 2].item() == 123.0
        t[0, 0] = -7.0
        assert a[0, 0] == -7.0
        assert np.shares_memory(t.numpy(), a)


def test_numpy_of_tensor_shares_memory():
    t = sc.arange(12, dtype="float32").reshape(3, 4)
    a = t.numpy()
    assert np.shares_memory(a, t.numpy())
    assert a.ctypes.data == t.data_ptr
    a[2, 3] = 99
    assert t[2, 3].item() == 99


def test_lifetimes_keep_memory_alive(rng):
    a = rng.standard_normal(1000)
    ref = a.copy()
    t = sc.tensor(a)
    del a
    gc.collect()
    np.testing.assert_array_equal(t.numpy(), ref)
    t2 = sc.arange(1000, dtype="float64")
    n = t2.numpy()
    del t2
    gc.collect()
    np.testing.assert_array_equal(n, np.arange(1000.0))
    v = sc.arange(20, dtype="float64")[::3]
    del_base = v.numpy()
    del v
    gc.collect()
    np.testing.assert_array_equal(del_base, np.arange(0.0, 20, 3))


@pytest.mark.parametrize(
    "view",
    [lambda a: a[::2, 1:], lambda a: a.T, lambda a: a[::-1], lambda a: a[:, ::-2],
     lambda a: a[1:, :][::-1, 2::3], lambda a: np.broadcast_to(a[:1], (4, 6))],
    ids=["step", "T", "neg0", "neg1", "mixed", "broadcast"],
)
def test_noncontiguous_numpy_inputs_keep_layout(rng, view):
    base = rng.standard_normal((6, 6))
    a = view(base)
    t = sc.tensor(a)
    assert t.shape == a.shape
    assert t.strides == tuple(s // a.itemsize for s in a.strides)
    np.testing.assert_array_equal(t.numpy(), a)
    assert np.shares_memory(t.numpy(), base)
    # computations read the layout right
    np.testing.assert_allclose((t * 2.0).numpy(), a * 2, rtol=0)
    np.testing.assert_allclose(t.sum(axis=0).numpy(), a.sum(axis=0), rtol=1e-12)
    np.testing.assert_array_equal(t.contiguous().numpy(), a)
    assert t.contiguous().is_contiguous()


def test_dlpack_both_ways(rng):
    t = sc.tensor(rng.standard_normal((3, 4)).astype(np.float32))
    a = np.from_dlpack(t)
    assert a.dtype == np.float32 and a.shape == (3, 4)
    assert a.ctypes.data == t.data_ptr
    np.testing.assert_array_equal(a, t.numpy())
    assert t.__dlpack_device__() == (1, 0)
    # non-contiguous export keeps strides
    tv = t[:, ::2]
    av = np.from_dlpack(tv)
    np.testing.assert_array_equal(av, t.numpy()[:, ::2])
    assert np.shares_memory(av, a)

    b = rng.standard_normal((5, 2))
    s = sc.from_dlpack(b)
    assert s.data_ptr == b.ctypes.data
    np.testing.assert_array_equal(s.numpy(), b)
    s2 = sc.from_dlpack(b[::2])
    np.testing.assert_array_equal(s2.numpy(), b[::2])
    # a splatcore tensor through DLPack into splatcore
    s3 = sc.from_dlpack(t)
    assert s3.data_ptr == t.data_ptr


def test_array_protocol(rng):
    t = sc.tensor(rng.standard_normal((2, 3)))
    a = np.asarray(t)
    assert np.shares_memory(a, t.numpy())
    np.testing.assert_array_equal(np.array(t, dtype=np.float32), t.numpy().astype(np.float32))
    c = np.array(t, copy=True)
    assert not np.shares_memory(c, t.numpy())
    assert np.add(t, 1).shape == (2, 3)  # NumPy functions accept tensors
    with pytest.raises(ValueError, match="copy=False"):
        np.array(t, dtype=np.float32, copy=False)
    assert np.shares_memory(np.array(t, dtype=np.float64, copy=False), t.numpy())
    # ndarray (op) Tensor stays a Tensor, with autograd
    x = sc.tensor(np.ones(3), requires_grad=True)
    y = np.arange(3.0) * x
    assert isinstance(y, sc.Tensor) and y.grad_fn == "mul"
    y.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), np.arange(3.0))


def test_comparisons_with_non_tensors_follow_python_rules():
    t = sc.ones(2)
    assert (t == None) is False and (t != None) is True  # noqa: E711
    assert None not in [t] and t in [t]
    with pytest.raises(TypeError, match="unsupported operand"):
        t + None
    with pytest.raises(TypeError):
        "a" * t


def test_tensor_from_lists_and_scalars():
    t = sc.tensor([[1.5, 2.0], [3.0, 4.0]])
    assert t.dtype == "float32" and t.shape == (2, 2)
    assert sc.tensor([1, 2, 3]).dtype == "int64"
    assert sc.tensor([True, False]).dtype == "bool"
    assert sc.tensor(3.5).shape == () and sc.tensor(3.5).item() == 3.5
    assert sc.tensor(7).dtype == "int64"
    assert sc.tensor([1, 2], dtype="float64").dtype == "float64"
    t2 = sc.tensor(t)
    assert t2.data_ptr == t.data_ptr
    with pytest.raises(TypeError, match="data"):
        sc.tensor(object())
    with pytest.raises(TypeError):
        sc.tensor(np.array([1 + 2j]))


def test_readonly_numpy_input_cannot_be_written():
    a = np.arange(6.0)
    a.flags.writeable = False
    t = sc.tensor(a)
    np.testing.assert_array_equal((t + 1).numpy(), a + 1)  # reading is fine
    with pytest.raises(ValueError, match="read-only"):
        t[0] = 5.0
    with pytest.raises(ValueError, match="read-only"):
        t[1:3] = 0
    assert a[0] == 0.0
    assert not t.numpy().flags.writeable
    assert not np.from_dlpack(t).flags.writeable
    with pytest.raises(ValueError, match="read-only"):
        t += 1
    b = np.broadcast_to(np.arange(3.0), (4, 3))
    with pytest.raises(ValueError, match="read-only"):
        sc.tensor(b)[0] = 1.0


# ---- views -----------------------------------------------------------------------
def shares(t, base):
    return np.shares_memory(t.numpy(), base.numpy())


def test_reshape_views(rng):
    a = rng.standard_normal((4, 6)).astype(np.float32)
    t = sc.tensor(a)
    r = t.reshape(3, 8)
    assert r.data_ptr == t.data_ptr and shares(r, t)
    np.testing.assert_array_equal(r.numpy(), a.reshape(3, 8))
    np.testing.assert_array_equal(t.reshape((-1,)).numpy(), a.reshape(-1))
    np.testing.assert_array_equal(t.reshape(2, -1, 3).numpy(), a.reshape(2, -1, 3))
    np.testing.assert_array_equal(t.flatten().numpy(), a.ravel())
    np.testing.assert_array_equal(t.view(24).numpy(), a.ravel())
    # reshapes that keep a view on non-contiguous input (split / merge compatible dims)
    s = t[:, ::2]  # (4, 3) with strides (6, 2)
    r2 = s.reshape(2, 2, 3)
    assert shares(r2, t)
    np.testing.assert_array_equal(r2.numpy(), a[:, ::2].reshape(2, 2, 3))
    r3 = s.reshape(4, 3, 1)
    assert shares(r3, t)
    np.testing.assert_array_equal(r3.numpy(), a[:, ::2].reshape(4, 3, 1))
    # transposed input cannot be flattened without a copy; values must still be right
    tt = t.T
    f = tt.reshape(-1)
    np.testing.assert_array_equal(f.numpy(), a.T.reshape(-1))
    assert not shares(f, t)


def test_permute_transpose(rng):
    a = rng.standard_normal((2, 3, 4))
    t = sc.tensor(a)
    for perm in [(2, 0, 1), (1, 2, 0), (0, 2, 1), (-1, 0, -2)]:
        p = t.permute(*perm)
        assert shares(p, t) and p.data_ptr == t.data_ptr
        np.testing.assert_array_equal(p.numpy(), a.transpose(perm))
    np.testing.assert_array_equal(t.permute([2, 1, 0]).numpy(), a.transpose(2, 1, 0))
    np.testing.assert_array_equal(t.transpose(0, 2).numpy(), np.swapaxes(a, 0, 2))
    np.testing.assert_array_equal(t.transpose().numpy(), a.T)
    np.testing.assert_array_equal(t.T.numpy(), a.T)
    assert not t.T.is_contiguous() and t.is_contiguous()


def test_basic_indexing(rng):
    a = rng.standard_normal((5, 6, 7))
    t = sc.tensor(a)
    keys = [
        (slice(1, 4), slice(None, None, 2)),
        (slice(None, None, -1),),
        (slice(None), slice(5, 0, -2), slice(-3, None)),
        (Ellipsis, 3),
        (2, Ellipsis, slice(1, -1)),
        (None, 1, None, slice(2, 5)),
        (Ellipsis, None),
        (-1, -2, -3),
        (slice(10, 20),),
        (slice(-100, 100, 3),),
        (1, slice(None), None, slice(None, None, -3)),
        (np.int64(2), slice(1, 3)),
        (np.int32(-1),),
    ]
    for key in keys:
        v = t[key]
        ref = a[key]
        assert v.shape == np.shape(ref), key
        np.testing.assert_array_equal(v.numpy(), ref)
        if v.size:
            assert shares(v, t), key
    assert t[0, 0, 0].shape == () and t[0, 0, 0].item() == a[0, 0, 0]
    # slices that resolve to "before index 0" are empty, not "the last element"
    one = sc.tensor(np.array([5.0]))
    assert one[-2::-1].shape == (0,) and one[-5:-3:-1].shape == (0,)
    assert t[:, -10::-1].shape == (5, 0, 7)
    np.testing.assert_array_equal(t[4::-3].numpy(), a[4::-3])
    assert t[np.int64(4)].shape == (6, 7)


def test_expand_squeeze_unsqueeze(rng):
    a = rng.standard_normal((3, 1))
    t = sc.tensor(a)
    e = t.expand(2, 3, 4)
    assert e.strides[0] == 0 and e.strides[2] == 0 and shares(e, t)
    np.testing.assert_array_equal(e.numpy(), np.broadcast_to(a, (2, 3, 4)))
    np.testing.assert_array_equal(t.broadcast_to((3, 5)).numpy(), np.broadcast_to(a, (3, 5)))
    np.testing.assert_array_equal(t.expand(-1, 4).numpy(), np.broadcast_to(a, (3, 4)))
    with pytest.raises(ValueError, match=r"\(3, 1\)"):
        t.expand(2, 4)
    with pytest.raises(ValueError):
        t.expand(3, -2)
    with pytest.raises(ValueError):
        t.expand(-1, 3, 1)  # -1 is only allowed on existing dimensions
    s = t.squeeze(1)
    assert s.shape == (3,) and shares(s, t)
    assert t.squeeze().shape == (3,)
    u = t.unsqueeze(0)
    assert u.shape == (1, 3, 1) and shares(u, t)
    assert t.unsqueeze(-1).shape == (3, 1, 1)
    # on a non-contiguous tensor they stay views
    nt = sc.tensor(rng.standard_normal((4, 5))).T[::2]
    for v in (nt.unsqueeze(1), nt.unsqueeze(0).squeeze(0), nt[:, None, :].squeeze(1)):
        assert shares(v, nt)
    np.testing.assert_array_equal(nt.unsqueeze(1).numpy(), nt.numpy()[:, None])
    with pytest.raises(ValueError, match="size"):
        t.squeeze(0)


def test_contiguous(rng):
    a = rng.standard_normal((4, 5)).astype(np.float32)
    t = sc.tensor(a)
    assert t.contiguous().data_ptr == t.data_ptr
    nt = t.T
    c = nt.contiguous()
    assert c.is_contiguous() and not shares(c, t)
    assert c.strides == (4, 1)
    np.testing.assert_array_equal(c.numpy(), a.T)
    c2 = t[::-1, 1::2].contiguous()
    np.testing.assert_array_equal(c2.numpy(), a[::-1, 1::2])
    cl = t.clone()
    assert cl.data_ptr != t.data_ptr
    np.testing.assert_array_equal(cl.numpy(), a)


# ---- setitem ----------------------------------------------------------------------
def test_setitem(rng):
    a = rng.standard_normal((4, 5)).astype(np.float32)
    t = sc.tensor(a.copy())
    ref = a.copy()

    def both(key, value):
        t[key] = value
        ref[key] = value.numpy() if isinstance(value, sc.Tensor) else value
        np.testing.assert_array_equal(t.numpy(), ref)

    both((slice(1, 3), slice(None, None, 2)), 5.0)
    both(0, np.arange(5, dtype=np.float64))  # other dtype, converted
    both((slice(None), 1), np.float32(-2))
    both((slice(None), slice(None)), rng.standard_normal((1, 5)))  # broadcast
    both((slice(None, None, -1), 4), np.arange(4.0))  # negative step
    both((Ellipsis, None, 2), 8)
    both(ref > 0, 0.5)  # bool mask (NumPy)
    mask = sc.tensor(rng.random((4, 5)) < 0.3)
    t[mask] = -1.0
    ref[mask.numpy()] = -1.0
    np.testing.assert_array_equal(t.numpy(), ref)
    t[mask] = sc.tensor(np.full((4, 5), 3.0, np.float32))  # mask with a same-shape value
    ref[mask.numpy()] = 3.0
    np.testing.assert_array_equal(t.numpy(), ref)
    both((2, 3), sc.tensor(np.float32(11)))
    with pytest.raises(ValueError, match=r"\(3,\)"):
        t[0] = np.ones(3)


def test_setitem_overlapping_self():
    t = sc.arange(10, dtype="float64")
    t[1:] = t[:-1]
    np.testing.assert_array_equal(t.numpy(), np.r_[0, np.arange(9.0)])
    u = sc.arange(10, dtype="float64")
    u[::-1] = u
    np.testing.assert_array_equal(u.numpy(), np.arange(9.0, -1, -1))
    m = sc.arange(9, dtype="float32").reshape(3, 3)
    m[...] = m.T
    np.testing.assert_array_equal(m.numpy(), np.arange(9.0).reshape(3, 3).T)


def test_inplace_operators_write_through(rng):
    a = rng.standard_normal((3, 4))
    ref = a.copy()
    t = sc.tensor(a)  # shares a's memory
    row = t[1]
    row += 10.0  # a view: the base sees it
    ref[1] += 10.0
    np.testing.assert_array_equal(a, ref)
    t *= 2
    t -= np.arange(4.0)  # broadcast
    t /= 4.0
    t **= 2
    ref = ((ref * 2 - np.arange(4.0)) / 4.0) ** 2
    np.testing.assert_allclose(a, ref, rtol=1e-15)
    f = sc.ones(3, dtype="float32")
    f += sc.ones(3, dtype="float64")  # same-kind cast into float32
    assert f.dtype == "float32" and f.tolist() == [2.0, 2.0, 2.0]
    i = sc.tensor(np.arange(3))
    i += 2
    assert i.tolist() == [2, 3, 4] and i.dtype == "int64"
    with pytest.raises(TypeError, match="float32.*int64"):
        i += 1.5
    with pytest.raises(ValueError, match=r"\(2, 3, 4\).*\(3, 4\)"):
        t += np.ones((2, 3, 4))  # the result would not fit t
    x = sc.ones(2).requires_grad_()
    with pytest.raises(ValueError, match="requires grad"):
        x += 1
    with sc.no_grad():
        x += 1
    assert x.tolist() == [2.0, 2.0] and x.requires_grad
    with pytest.raises(TypeError, match="unsupported operand"):
        t += None


def test_setitem_int_truncates_like_numpy():
    t = sc.zeros(3, dtype="int32")
    t[1] = 2.7
    t[2] = -1.9
    assert t.tolist() == [0, 2, -1]
    b = sc.zeros(3, dtype="bool")
    b[0] = True
    assert b.tolist() == [True, False, False]


# ---- protocol -----------------------------------------------------------------------
def test_repr_item_tolist_len(rng):
    t = sc.tensor(np.arange(6, dtype=np.float32).reshape(2, 3))
    r = repr(t)
    assert "shape=(2, 3)" in r and "dtype=float32" in r and "5" in r
    big = sc.zeros((100, 100))
    rb = repr(big)
    assert "..." in rb and len(rb) < 2000
    assert "bool" in repr(sc.tensor([True])) and "True" in repr(sc.tensor([True]))
    assert "shape=(0,)" in repr(sc.zeros(0))
    assert "float16" in repr(sc.ones(2, dtype="float16"))
    assert "bfloat16" in repr(sc.ones(2, dtype="bfloat16"))
    assert "requires_grad=True" in repr(sc.ones(2).requires_grad_())
    assert "[1., 2.5, nan, -inf]" in repr(sc.tensor(np.array([1.0, 2.5, np.nan, -np.inf])))
    assert str(2**62 + 1) in repr(sc.tensor(np.array([2**62 + 1])))
    assert "[[5, 4, 3]," in repr(sc.tensor(np.arange(6).reshape(2, 3))[::-1, ::-1])
    huge = sc.ones(1).expand(2**40)  # repr reads only what it prints
    assert "shape=(1099511627776,)" in repr(huge)
    assert t[1, 2].item() == 5.0 and isinstance(t[1, 2].item(), float)
    assert isinstance(sc.tensor([3]).item(), int)
    assert sc.tensor(np.array([True])).item() is True
    big_int = 2**62 + 1
    assert sc.tensor(np.array([big_int])).item() == big_int
    assert int(sc.tensor(np.array([big_int]))) == big_int
    assert sc.tensor(np.array([2**32 - 1], np.uint32)).item() == 2**32 - 1
    assert float(sc.tensor(2.5)) == 2.5
    with pytest.raises(ValueError, match=r"\(2, 3\)"):
        t.item()
    assert t.tolist() == [[0.0, 1.0, 2.0], [3.0, 4.0, 5.0]]
    assert sc.tensor(np.array([[1, 2]], np.int32)).tolist() == [[1, 2]]
    assert len(t) == 2 and len(t.T) == 3
    with pytest.raises(TypeError, match="0-d"):
        len(sc.tensor(1.0))
    assert bool(sc.tensor([1.0])) and not bool(sc.tensor(0))
    with pytest.raises(ValueError, match="ambiguous"):
        bool(t)
    rows = [r.tolist() for r in t]  # iteration through the sequence protocol
    assert rows == t.tolist()
    assert t.ndim == 2 and t.size == 6 and t.device == "cpu" and t.strides == (3, 1)


# ---- property tests: views and indexing against NumPy ---------------------------------
from hypothesis import given  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from hypothesis.extra import numpy as hnp  # noqa: E402


def slice_strategy(n):
    bound = st.one_of(st.none(), st.integers(-n - 2, n + 2))
    step = st.one_of(st.none(), st.integers(-3, 3).filter(lambda s: s != 0))
    return st.builds(slice, bound, bound, step)


@st.composite
def index_keys(draw, shape):
    key = []
    for n in shape:
        kind = draw(st.sampled_from(["slice", "int", "none", "skip"]))
        if kind == "int" and n > 0:
            key.append(draw(st.integers(-n, n - 1)))
        elif kind == "none":
            key.append(None)
            key.append(draw(slice_strategy(n)))
        elif kind == "skip":
            key.append(Ellipsis) if Ellipsis not in key else key.append(slice(None))
            break
        else:
            key.append(draw(slice_strategy(n)))
    return tuple(key)


@given(data=st.data(), shape=hnp.array_shapes(min_dims=1, max_dims=4, min_side=0, max_side=6))
def test_basic_indexing_property(data, shape):
    a = np.arange(int(np.prod(shape)), dtype=np.float64).reshape(shape)
    key = data.draw(index_keys(shape))
    t = sc.tensor(a)
    ref = a[key]
    out = t[key]
    assert out.shape == ref.shape, key
    np.testing.assert_array_equal(out.numpy(), ref)
    # assignment through the same key
    b = a.copy()
    tb = sc.tensor(b.copy())
    val = np.arange(ref.size, dtype=np.float64).reshape(ref.shape) + 1000
    b[key] = val
    tb[key] = val
    np.testing.assert_array_equal(tb.numpy(), b)


@given(data=st.data(), shape=hnp.array_shapes(min_dims=1, max_dims=4, min_side=1, max_side=5))
def test_reshape_of_strided_views_property(data, shape):
    base = np.arange(int(np.prod(shape)), dtype=np.float32).reshape(shape)
    perm = data.draw(st.permutations(range(len(shape))))
    key = tuple(data.draw(slice_strategy(n).filter(lambda s: s.step is None or s.step > 0)) for n in shape)
    view = base.transpose(perm)[key]
    t = sc.tensor(base).permute(*perm)[key]
    np.testing.assert_array_equal(t.numpy(), view)
    # a random factorisation of the element count
    n = view.size
    dims = []
    rest = n
    for _ in range(data.draw(st.integers(0, 3))):
        divisors = [d for d in range(1, rest + 1) if rest % d == 0] if rest else [0]
        d = data.draw(st.sampled_from(divisors))
        dims.append(d)
        rest = rest // d if d else rest
    new_shape = tuple(dims) + (rest,) if n else tuple(dims) + (0,)
    if int(np.prod(new_shape)) != n:
        return
    r = t.reshape(new_shape)
    ref = view.reshape(new_shape)
    np.testing.assert_array_equal(r.numpy(), ref)
    if n > 1:
        # a view exactly when NumPy can make one
        assert np.shares_memory(r.numpy(), base) == np.shares_memory(ref, base)
