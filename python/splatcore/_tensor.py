"""splatcore.tensor(): build a Tensor from any array-like."""
from . import _core


def tensor(data, dtype=None, requires_grad=False):
    """A Tensor from a NumPy array (shared, no copy, when the dtype is kept),
    a Tensor, a Python number or a nested list (Python floats become float32)."""
    t = _core.Tensor(data, dtype)
    if requires_grad:
        t.requires_grad = True
    return t
