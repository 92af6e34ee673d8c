"""splatcore.sort.radix_sort_pairs against numpy.argsort(kind="stable").

Every check compares the sorted keys and the values (which must follow the
stable order) with the permutation NumPy's stable argsort gives for the same
key bits, on fresh random inputs (the `rng` fixture is seeded per test).
"""
import numpy as np
import pytest

import splatcore as sc
from splatcore import _core
from splatcore.sort import float_keys, radix_sort_pairs

U32 = np.uint32
U64 = np.uint64


def bits_of(keys, begin_bit, end_bit):
    """The key bits [begin_bit, end_bit) as integers (what the sort compares)."""
    k = keys.astype(U64)
    width = end_bit - begin_bit
    mask = U64((1 << width) - 1) if width < 64 else U64(0xFFFFFFFFFFFFFFFF)
    return (k >> U64(begin_bit)) & mask


def check_sorted(keys, values, begin_bit=0, end_bit=None, out=None):
    """Run the sort (unless `out` is given) and compare with the stable argsort."""
    width = keys.dtype.itemsize * 8
    end = width if end_bit is None else end_bit
    if out is None:
        out = radix_sort_pairs(keys, values, begin_bit, end_bit)
    sk, sv = (np.asarray(o) for o in out)
    perm = np.argsort(bits_of(keys, begin_bit, end), kind="stable")
    assert sk.dtype == keys.dtype and sv.dtype == U32
    np.testing.assert_array_equal(sk, keys[perm])
    ref_v = perm.astype(U32) if values is None else np.asarray(values)[perm]
    np.testing.assert_array_equal(sv, ref_v)


def rand_u32(rng, n, high=2**32):
    return rng.integers(0, high, n, dtype=np.uint64).astype(U32)


def rand_u64(rng, n):
    return rng.integers(0, 2**64 - 1, n, dtype=np.uint64, endpoint=True)


@pytest.mark.parametrize("n", [0, 1, 2, 3, 7, 255, 256, 257, 1000, 65_537, 100_000, 2_000_000])
def test_random_uint32(rng, n):
    keys = rand_u32(rng, n)
    values = rand_u32(rng, n)
    check_sorted(keys, values)
    check_sorted(keys, None)  # argsort permutation


@pytest.mark.parametrize("n", [0, 1, 255, 256, 100_000, 1_000_000])
def test_random_uint64(rng, n):
    keys = rand_u64(rng, n)
    check_sorted(keys, rand_u32(rng, n))
    check_sorted(keys, None)


@pytest.mark.parametrize("dtype", [U32, U64])
@pytest.mark.parametrize("pattern", ["equal", "sorted", "reversed", "few", "one_byte", "top_bit"])
def test_patterns(rng, dtype, pattern):
    n = 300_001
    width = np.dtype(dtype).itemsize * 8
    if pattern == "equal":
        keys = np.full(n, rng.integers(0, 2**31), dtype=dtype)
    elif pattern == "sorted":
        keys = np.sort(rand_u64(rng, n).astype(dtype))
    elif pattern == "reversed":
        keys = np.sort(rand_u64(rng, n).astype(dtype))[::-1].copy()
    elif pattern == "few":  # few distinct keys spread over every digit: stability decides
        distinct = rand_u64(rng, 5).astype(dtype)
        keys = distinct[rng.integers(0, 5, n)]
    elif pattern == "one_byte":  # keys differ in one middle digit only: other passes skip
        shift = width // 2
        keys = (rng.integers(0, 256, n).astype(dtype) << dtype(shift)) | dtype(0xAB)
    else:  # only the top bit varies: the single executed pass is the last one
        keys = (rng.integers(0, 2, n).astype(dtype) << dtype(width - 1)) | dtype(7)
    check_sorted(keys, rand_u32(rng, n))
    check_sorted(keys, None)


def test_small_key_range_odd_passes(rng):
    # keys < 2**8 (1 pass executed of 4) and < 2**16 (2 of 4), < 2**24 (3 of 4)
    for high in (2**8, 2**16, 2**24):
        keys = rand_u32(rng, 50_000, high)
        check_sorted(keys, rand_u32(rng, 50_000))


@pytest.mark.parametrize("begin_bit, end_bit", [(0, 12), (8, 24), (5, 6), (31, 32), (0, 0),
                                                (32, 32), (3, 32), (16, 31), (0, 1)])
def test_partial_bits_uint32(rng, begin_bit, end_bit):
    n = 200_000
    keys = rand_u32(rng, n)
    values = rand_u32(rng, n)
    check_sorted(keys, values, begin_bit, end_bit)
    if (begin_bit, end_bit) == (0, 12):  # the spelled-out form of the requirement
        sk, sv = radix_sort_pairs(keys, values, 0, 12)
        perm = np.argsort(keys & U32(0xFFF), kind="stable")
        np.testing.assert_array_equal(sv, values[perm])


@pytest.mark.parametrize("begin_bit, end_bit", [(0, 12), (20, 50), (32, 48), (40, 64),
                                                (63, 64), (0, 33), (64, 64)])
def test_partial_bits_uint64(rng, begin_bit, end_bit):
    n = 100_000
    keys = rand_u64(rng, n)
    check_sorted(keys, rand_u32(rng, n), begin_bit, end_bit)


def test_rasterizer_layout(rng):
    """uint64 keys: tile id in the high word, sortable depth bits in the low word."""
    n, tile_bits = 400_000, 12
    tiles = rng.integers(0, 3000, n).astype(U64)
    depth = rng.uniform(-5.0, 50.0, n).astype(np.float32)
    depth[rng.integers(0, n, n // 10)] = 1.5  # many equal depths
    keys = (tiles << U64(32)) | float_keys(depth).astype(U64)
    ids = np.arange(n, dtype=U32)
    # full sort: by tile, then by depth, ties in input order
    sk, sv = radix_sort_pairs(keys, ids, 0, 32 + tile_bits)
    perm = np.lexsort((depth, tiles))  # lexsort is stable
    np.testing.assert_array_equal(sv, ids[perm])
    np.testing.assert_array_equal(sk, keys[perm])
    # tile-only sort of depth-ordered intersections keeps the depth order per tile
    order = np.argsort(depth, kind="stable").astype(U32)
    sk2, sv2 = radix_sort_pairs(keys[order], order, 32, 32 + tile_bits)
    np.testing.assert_array_equal(sv2, ids[perm])
    check_sorted(keys[order], order, 32, 32 + tile_bits)


def test_float_keys_order(rng):
    x = np.concatenate([
        rng.standard_normal(20_000).astype(np.float32) * np.float32(1e3),
        rng.standard_normal(1000).astype(np.float32) * np.float32(1e-40),  # denormals
        np.array([0.0, -0.0, np.inf, -np.inf, 1.0, -1.0, 0.0, -0.0,
                  np.finfo(np.float32).max, -np.finfo(np.float32).max,
                  np.finfo(np.float32).tiny, -np.finfo(np.float32).tiny], dtype=np.float32),
    ])
    rng.shuffle(x)
    k = np.asarray(float_keys(x))
    assert k.dtype == U32 and k.shape == x.shape
    # same stable order as the floats themselves (so -0.0 and +0.0 must tie)
    np.testing.assert_array_equal(np.argsort(k, kind="stable"), np.argsort(x, kind="stable"))
    # order-preserving both ways on sorted pairs: x_i < x_j <=> k_i < k_j
    xs = np.sort(x)
    ks = np.asarray(float_keys(xs))
    np.testing.assert_array_equal(np.diff(ks.astype(np.int64)) > 0, np.diff(xs) > 0)
    np.testing.assert_array_equal(np.diff(ks.astype(np.int64)) == 0, np.diff(xs) == 0)
    z = np.asarray(float_keys(np.array([-0.0, 0.0], dtype=np.float32)))
    assert z[0] == z[1]
    nan = np.asarray(float_keys(np.array([np.nan, np.inf, -np.inf], dtype=np.float32)))
    assert nan[0] > nan[1] > nan[2]
    # any shape; Tensor in -> Tensor out
    x2 = x[:1200].reshape(30, 40)
    t = float_keys(sc.tensor(x2))
    assert isinstance(t, sc.Tensor)
    np.testing.assert_array_equal(t.numpy(), k[:1200].reshape(30, 40))


def test_depth_sort_with_float_keys(rng):
    depth = rng.uniform(-1.0, 100.0, 123_457).astype(np.float32)
    depth[::7] = 3.25
    sk, perm = radix_sort_pairs(float_keys(depth))
    np.testing.assert_array_equal(perm, np.argsort(depth, kind="stable"))


def test_inputs_unchanged_and_result_kinds(rng):
    keys = rand_u32(rng, 70_000)
    values = rand_u32(rng, 70_000)
    k0, v0 = keys.copy(), values.copy()
    out = radix_sort_pairs(keys, values)
    assert all(isinstance(o, np.ndarray) for o in out)
    np.testing.assert_array_equal(keys, k0)
    np.testing.assert_array_equal(values, v0)
    tk, tv = sc.tensor(keys), sc.tensor(values)
    rk, rv = radix_sort_pairs(tk, tv, 4, 28)
    assert isinstance(rk, sc.Tensor) and isinstance(rv, sc.Tensor)
    np.testing.assert_array_equal(tk.numpy(), k0)
    np.testing.assert_array_equal(tv.numpy(), v0)
    check_sorted(keys, values, 4, 28, out=(rk.numpy(), rv.numpy()))
    k64 = rand_u64(rng, 5000)
    c64 = k64.copy()
    radix_sort_pairs(k64, values[:5000])
    np.testing.assert_array_equal(k64, c64)
    # also reachable from the top-level namespace
    check_sorted(keys, values, out=sc.radix_sort_pairs(keys, values))


def test_strided_inputs(rng):
    keys = rand_u32(rng, 200_000)
    values = rand_u32(rng, 200_000)
    check_sorted(keys[::3], values[1::3])
    k64 = rand_u64(rng, 100_000)
    check_sorted(k64[::2], values[::4], 0, 40)
    check_sorted(keys[::-2], values[::-2])  # negative strides
    check_sorted(k64[::-1], values[:100_000][::-1], 20, 60)
    # Tensor views
    tk = sc.tensor(keys)[::2]
    rk, rv = radix_sort_pairs(tk, None, 0, 20)
    check_sorted(keys[::2], None, 0, 20, out=(rk.numpy(), rv.numpy()))


@pytest.mark.parametrize("threads", [1, 3, 8])
def test_thread_counts(rng, threads):
    """Any block split gives the one stable order (1 thread: a single block)."""
    before = sc.num_threads()
    try:
        sc.set_num_threads(threads)
        keys = rand_u32(rng, 1_000_003, 2**20)
        values = rand_u32(rng, 1_000_003)
        check_sorted(keys, values)
        check_sorted(keys, values, 8, 20)
        k64 = rand_u64(rng, 300_000) >> U64(40)
        check_sorted(k64, None)
    finally:
        sc.set_num_threads(before)


@pytest.mark.parametrize("dtype", [U32, U64])
@pytest.mark.parametrize("with_values", [True, False])
@pytest.mark.parametrize("bits", [(0, None), (0, 12), (8, 24), (20, 21)])
def test_raw_in_place(rng, dtype, with_values, bits):
    """The raw-buffer in-place entry point the rasterizer calls (keys-only too)."""
    n = 150_001
    width = np.dtype(dtype).itemsize * 8
    begin_bit, end_bit = bits[0], width if bits[1] is None else bits[1]
    keys = rand_u64(rng, n).astype(dtype)
    values = rand_u32(rng, n)
    k, v = keys.copy(), values.copy()
    _core._radix_sort_pairs_inplace(k, v if with_values else None, begin_bit, end_bit)
    perm = np.argsort(bits_of(keys, begin_bit, end_bit), kind="stable")
    np.testing.assert_array_equal(k, keys[perm])
    np.testing.assert_array_equal(v, values[perm] if with_values else values)


# ---- errors -----------------------------------------------------------------

@pytest.mark.parametrize("bad", [np.int32, np.int64, np.float32, np.uint8, np.uint16, np.float64])
def test_bad_key_dtype(bad):
    with pytest.raises(TypeError, match=rf"keys.*uint32 or uint64.*{np.dtype(bad).name}"):
        radix_sort_pairs(np.zeros(10, dtype=bad))


def test_bad_key_dtype_tensor_and_list():
    with pytest.raises(TypeError, match=r"keys.*uint32 or uint64.*float32"):
        radix_sort_pairs(sc.tensor(np.zeros(4, dtype=np.float32)))
    with pytest.raises(TypeError, match=r"keys.*int64"):
        radix_sort_pairs([3, 1, 2])


@pytest.mark.parametrize("bad", [np.int32, np.uint64, np.float32])
def test_bad_value_dtype(bad):
    with pytest.raises(TypeError, match=rf"values.*uint32.*{np.dtype(bad).name}"):
        radix_sort_pairs(np.zeros(10, dtype=U32), np.zeros(10, dtype=bad))


def test_bad_shapes():
    with pytest.raises(ValueError, match=r"keys must be 1-D.*\(3, 4\)"):
        radix_sort_pairs(np.zeros((3, 4), dtype=U32))
    with pytest.raises(ValueError, match=r"keys must be 1-D.*\(3, 4\)"):
        radix_sort_pairs(np.zeros((3, 4), dtype=U64))
    with pytest.raises(ValueError, match=r"values must be 1-D.*\(2, 5\)"):
        radix_sort_pairs(np.zeros(10, dtype=U32), np.zeros((2, 5), dtype=U32))
    with pytest.raises(ValueError, match=r"values.*length of keys \(10\).*length 9"):
        radix_sort_pairs(np.zeros(10, dtype=U32), np.zeros(9, dtype=U32))
    with pytest.raises(ValueError, match=r"values.*length of keys \(7\).*length 8"):
        radix_sort_pairs(np.zeros(7, dtype=U64), sc.tensor(np.zeros(8, dtype=U32)))


@pytest.mark.parametrize("dtype, begin_bit, end_bit, what", [
    (U32, -1, None, "begin_bit"), (U32, 33, None, "begin_bit"), (U32, 0, 33, "end_bit"),
    (U32, 10, 9, "end_bit"), (U32, 0, -1, "end_bit"), (U64, 0, 65, "end_bit"),
    (U64, 65, 65, "begin_bit"), (U64, 40, 39, "end_bit"),
])
def test_bad_bit_range(dtype, begin_bit, end_bit, what):
    width = np.dtype(dtype).itemsize * 8
    with pytest.raises(ValueError, match=rf"{what} must be in .*{width}.*got {end_bit if what == 'end_bit' else begin_bit}"):
        radix_sort_pairs(np.zeros(5, dtype=dtype), None, begin_bit, end_bit)


def test_float_keys_errors():
    with pytest.raises(TypeError, match=r"x must be float32, got float64"):
        float_keys(np.zeros(3))
    with pytest.raises(TypeError, match=r"x must be float32, got int32"):
        float_keys(sc.tensor(np.zeros(3, dtype=np.int32)))
