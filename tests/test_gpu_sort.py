"""The GPU radix sort (reduce-then-scan LSD, 8-bit digits) on every GPU device
against NumPy's stable argsort, over bit ranges, sizes around the tile of 1024
and heavy duplicates."""
import numpy as np
import pytest

import splatcore as sc
from splatcore import _core


@pytest.fixture
def device(gpu_device):
    return gpu_device


def reference(keys, values, begin, end):
    sub = (keys >> np.uint32(begin)) & np.uint32((1 << (end - begin)) - 1) if end > begin else np.zeros_like(keys)
    perm = np.argsort(sub, kind="stable")
    return keys[perm], values[perm]


@pytest.mark.parametrize("n", [1, 31, 1023, 1024, 1025, 3000, 3072, 3073, 20000])
@pytest.mark.parametrize("bits", [(0, 32), (3, 17), (0, 4), (28, 32), (9, 9)])
def test_radix_sort_pairs(device, n, bits):
    r = np.random.default_rng(n * 100 + bits[0])
    keys = r.integers(0, 2 ** 32, n, dtype=np.uint64).astype(np.uint32)
    values = r.integers(0, 2 ** 32, n, dtype=np.uint64).astype(np.uint32)
    ko, vo = sc.sort.radix_sort_pairs(sc.tensor(keys, device=device), sc.tensor(values, device=device), *bits)
    assert ko.device.split(":")[0] == device
    rk, rv = reference(keys, values, *bits)
    np.testing.assert_array_equal(ko.numpy(), rk)
    np.testing.assert_array_equal(vo.numpy(), rv)


def test_stable_with_duplicates_and_argsort(device):
    keys = np.random.default_rng(1).integers(0, 5, 5000).astype(np.uint32)
    ko, perm = sc.sort.radix_sort_pairs(sc.tensor(keys, device=device), None)
    np.testing.assert_array_equal(perm.numpy(), np.argsort(keys, kind="stable"))
    np.testing.assert_array_equal(ko.numpy(), np.sort(keys))


def test_inputs_are_not_modified(device):
    keys = np.random.default_rng(2).integers(0, 1000, 2000).astype(np.uint32)
    t = sc.tensor(keys, device=device)
    sc.sort.radix_sort_pairs(t, None)
    np.testing.assert_array_equal(t.numpy(), keys)


def test_mixed_devices_raise(device):
    k = sc.tensor(np.arange(4, dtype=np.uint32), device=device)
    with pytest.raises(ValueError, match="values is on cpu"):
        sc.sort.radix_sort_pairs(k, sc.tensor(np.arange(4, dtype=np.uint32)))


@pytest.mark.parametrize("n", [1, 1024, 1025, 300_000])
def test_exclusive_scan(device, n):
    x = np.random.default_rng(n).integers(0, 100, n).astype(np.uint32)
    t = sc.tensor(x, device=device)
    sc._core._exclusive_scan_u32(t)
    np.testing.assert_array_equal(t.numpy(), (np.cumsum(x.astype(np.uint64)) - x).astype(np.uint32))


@pytest.mark.parametrize("n,bits", [(1, (0, 32)), (5000, (0, 13)), (70_000, (0, 32)), (70_000, (9, 20))])
def test_rasterizer_sort(device, n, bits):
    """The sort the rasterizer takes (CUB on CUDA, ours elsewhere): stable by key bits
    [begin, end), the same order as NumPy's stable argsort and as our own sort."""
    rng = np.random.default_rng(n + bits[1])
    keys = rng.integers(0, 2**32, n, dtype=np.uint64).astype(np.uint32)
    keys[: n // 3] = keys[n // 3: 2 * (n // 3)]  # duplicates: order within equal keys matters
    values = rng.permutation(n).astype(np.uint32)
    kt, vt = (sc.tensor(x, device=device) for x in (keys, values))
    ko, vo = _core._gpu_fastest_sort_pairs(kt, vt, *bits)
    field = (keys.astype(np.uint64) >> bits[0]) & ((1 << (bits[1] - bits[0])) - 1)
    order = np.argsort(field, kind="stable")
    np.testing.assert_array_equal(ko.cpu().numpy(), keys[order])
    np.testing.assert_array_equal(vo.cpu().numpy(), values[order])
    own_k, own_v = sc.sort.radix_sort_pairs(kt, vt, *bits)
    np.testing.assert_array_equal(own_v.cpu().numpy(), vo.cpu().numpy())


def test_rasterizer_sort_checks_arguments(device):
    k = sc.tensor(np.arange(4, dtype=np.uint32), device=device)
    with pytest.raises(ValueError, match="expected 1-D uint32 keys and values of one length"):
        _core._gpu_fastest_sort_pairs(k, sc.tensor(np.arange(3, dtype=np.uint32), device=device), 0, 32)
