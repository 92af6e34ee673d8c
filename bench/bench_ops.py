"""Elementwise chain and softmax at 16M elements, beside NumPy in the same run.

Run: python -m pytest bench/bench_ops.py -q -s
Each test times splatcore with pytest-benchmark and NumPy on the same inputs
(best of several runs) and prints the ratio NumPy time / splatcore time
(> 1: splatcore is faster). The bar is >= 1/1.5 = 0.67.
"""

import numpy as np
import pytest

import splatcore as sc
from anchor import best_seconds, report_ratio

N = 16 * 1024 * 1024






@pytest.fixture(scope="module")
def arrays():
    rng = np.random.default_rng(0)
    return [rng.standard_normal(N, dtype=np.float32) for _ in range(3)]


def test_elementwise_chain(benchmark, arrays):
    a, b, c = arrays
    ta, tb, tc = (sc.tensor(x) for x in arrays)

    def ours():
        return sc.exp(ta * tb + tc) * 0.5

    def theirs():
        return np.exp(a * b + c) * np.float32(0.5)

    np.testing.assert_allclose(ours().numpy(), theirs(), rtol=1e-5, atol=1e-6)
    benchmark(ours)
    report_ratio(benchmark, "elementwise exp(a*b+c)*0.5, 16M float32", "NumPy", best_seconds(theirs))


@pytest.mark.parametrize("rows", [4096, 64])
def test_softmax(benchmark, arrays, rows):
    x = arrays[0].reshape(rows, -1)
    tx = sc.tensor(x)

    def theirs():
        e = np.exp(x - x.max(axis=-1, keepdims=True))
        return e / e.sum(axis=-1, keepdims=True)

    np.testing.assert_allclose(sc.softmax(tx, axis=-1).numpy(), theirs(), rtol=1e-4, atol=1e-9)
    benchmark(sc.softmax, tx, -1)
    report_ratio(benchmark, f"softmax over the last axis of {x.shape}, float32", "NumPy", best_seconds(theirs))


def test_sum(benchmark, arrays):
    a = arrays[0]
    ta = sc.tensor(a)
    benchmark(sc.sum, ta)
    report_ratio(benchmark, "sum of 16M float32", "NumPy", best_seconds(lambda: a.sum()))
