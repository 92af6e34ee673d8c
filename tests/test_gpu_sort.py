"""The GPU radix sort (reduce-then-scan LSD, 8-bit digits) on every GPU device
against NumPy's stable argsort, over bit ranges, sizes around the tile of 1024
and heavy duplicates."""
import numpy as np
import pytest

import splatcore as sc


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
