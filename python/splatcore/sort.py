"""splatcore.sort: stable LSD radix sort of (key, value) pairs on the C++ core.

    keys, perm = radix_sort_pairs(depth_keys)                 # argsort by 32-bit keys
    keys, vals = radix_sort_pairs(isect_keys, gauss_ids, begin_bit=32, end_bit=32 + tile_bits)

Depths are floats; ``float_keys`` turns them into uint32 keys with the same order.
"""
from . import _core

__all__ = ["radix_sort_pairs", "float_keys"]


def radix_sort_pairs(keys, values=None, begin_bit=0, end_bit=None):
    """Sort ``(keys, values)`` pairs stably by the key bits ``[begin_bit, end_bit)``.

    keys: 1-D uint32 or uint64 (a Tensor or an array; uint64 only as an array).
    values: 1-D uint32 of the same length, or None for 0..n-1 (the sorted values
        are then the stable argsort permutation of the keys).
    begin_bit, end_bit: only bits ``begin_bit <= b < end_bit`` of each key are
        compared (``end_bit`` defaults to the key width); ties, including keys
        differing only outside that range, keep their input order. The keys
        come back whole.

    Returns new ``(sorted_keys, sorted_values)``; the inputs are not modified.
    They are Tensors when ``keys`` is a Tensor, NumPy arrays otherwise.
    Raises TypeError for other dtypes and ValueError for bad shapes, lengths or
    bit ranges.
    """
    return _core.radix_sort_pairs(keys, values, begin_bit, end_bit)


def float_keys(x):
    """uint32 keys of float32 ``x`` (any shape) whose unsigned order is the
    numeric order of ``x``: negatives included, -0.0 and +0.0 give the same key,
    NaNs sort beyond the infinities of their sign. Same kind as ``x`` (Tensor
    or NumPy array)."""
    return _core.float_keys(x)
