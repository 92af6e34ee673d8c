"""Radix sort of key/value pairs beside NumPy's stable argsort + gather.

Run: SPLATCORE_BUILD_DIR=build/sort PYTHONPATH=python python -m pytest bench/bench_sort.py -q -s
Each test times splatcore.sort.radix_sort_pairs with pytest-benchmark and
`perm = np.argsort(keys, kind="stable"); keys[perm], values[perm]` on the same
input in the same run (best of several), checks both agree, and prints the
ratio NumPy time / splatcore time (> 1: splatcore is faster).
"""

import numpy as np
import pytest

import splatcore as sc
from anchor import best_seconds, report_ratio
from splatcore.sort import radix_sort_pairs






def run_case(benchmark, name, keys, values, begin_bit=0, end_bit=None):
    width = keys.dtype.itemsize * 8
    end = width if end_bit is None else end_bit
    sort_keys = keys if (begin_bit, end) == (0, width) else (keys >> keys.dtype.type(begin_bit))

    def ours():
        return radix_sort_pairs(keys, values, begin_bit, end_bit)

    def theirs():
        perm = np.argsort(sort_keys, kind="stable")
        return keys[perm], values[perm]

    (ok, ov), (rk, rv) = ours(), theirs()
    np.testing.assert_array_equal(ok, rk)
    np.testing.assert_array_equal(ov, rv)
    benchmark.pedantic(ours, rounds=5, iterations=1, warmup_rounds=1)
    report_ratio(benchmark, name, "NumPy argsort+gather", best_seconds(theirs))


@pytest.mark.parametrize("n", [1 << 20, 1 << 24], ids=["1M", "16M"])
def test_uint32_pairs(benchmark, n):
    rng = np.random.default_rng(0)
    keys = rng.integers(0, 2**32, n, dtype=np.uint64).astype(np.uint32)
    values = rng.integers(0, 2**32, n, dtype=np.uint64).astype(np.uint32)
    run_case(benchmark, f"uint32 keys, 32 bits, {n >> 20}M pairs", keys, values)


def test_uint64_tile_sort(benchmark):
    """4M intersections: tile id (16 significant bits) above float-depth bits; the
    rasterizer sorts the tile bits only, after a depth sort."""
    n = 1 << 22
    rng = np.random.default_rng(1)
    tiles = rng.integers(0, 1 << 16, n).astype(np.uint64)
    depth = rng.uniform(0.1, 100.0, n).astype(np.float32)
    keys = (tiles << np.uint64(32)) | sc.sort.float_keys(depth).astype(np.uint64)
    values = np.arange(n, dtype=np.uint32)
    run_case(benchmark, "uint64 keys, tile bits [32, 48), 4M pairs", keys, values, 32, 48)
