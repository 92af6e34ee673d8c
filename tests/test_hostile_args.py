"""Issue 12: hostile arguments to the core: odd bool bytes and huge shapes
(defect 11), a non-finite background (defect 8)."""
import numpy as np
import pytest

import splatcore as sc


@pytest.mark.parametrize("make", [
    lambda raw: raw.view(np.bool_),                         # writable view with bytes 2, 255
    lambda raw: np.frombuffer(raw.tobytes(), np.bool_),     # read-only
    lambda raw: raw.view(np.bool_)[::2],                    # strided
])
def test_bool_arrays_with_odd_bytes_read_as_0_1(rng, make):
    raw = rng.integers(0, 256, 64).astype(np.uint8)
    raw[:4] = [0, 1, 2, 255]
    a = make(raw)
    t = sc.tensor(a)
    want = a.astype(np.float32)  # NumPy: any nonzero byte is True
    np.testing.assert_array_equal(t.astype("float32").numpy(), want)
    np.testing.assert_array_equal(t.astype("int64").numpy(), a.astype(np.int64))
    assert set(np.unique(t.numpy().view(np.uint8))) <= {0, 1}
    assert int(t.sum().item()) == int(a.sum())


def test_clean_bool_arrays_stay_zero_copy(rng):
    a = rng.random(32) > 0.5
    t = sc.tensor(a)
    assert t.data_ptr == a.__array_interface__["data"][0]


@pytest.mark.parametrize("shape", [(2 ** 64,), (3, 2 ** 70), 2 ** 63, (-(2 ** 64),)])
def test_shapes_beyond_int64_are_overflow_errors(shape):
    for make in (sc.zeros, sc.ones, sc.empty):
        with pytest.raises(OverflowError, match="shape"):
            make(shape)


def test_shapes_too_large_to_allocate(rng):
    with pytest.raises((ValueError, MemoryError, OverflowError)):
        sc.zeros((2 ** 62, 4))


def test_non_finite_background_is_named(rng):
    n = 6
    f = lambda a: np.asarray(a, np.float32)  # noqa: E731
    args = (f(rng.standard_normal((n, 3)) + [0, 0, 5]), f(np.tile([1, 0, 0, 0], (n, 1))),
            f(np.full((n, 3), 0.1)), f(np.full(n, 0.5)), f(rng.random((n, 3))), f(np.eye(4)),
            f([[20, 0, 8], [0, 20, 8], [0, 0, 1]]), 16, 16)
    img, _, _ = sc.splat.rasterize(*args, background=f(rng.random(3)))
    assert np.isfinite(img.numpy()).all()
    for bad in (np.nan, np.inf):
        with pytest.raises(ValueError, match="background"):
            sc.splat.rasterize(*args, background=f([0.2, bad, 0.1]))
