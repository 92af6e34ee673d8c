"""splatcore.tensor(): build a Tensor from any array-like."""
from . import _core


def tensor(data, dtype=None, requires_grad=False, device=None):
    """A Tensor from a NumPy array (shared, no copy, when the dtype is kept and
    the tensor stays on the CPU), a Tensor, a Python number or a nested list
    (Python floats become float32), on `device` (default: the default device,
    see set_default_device)."""
    t = _core.Tensor(data, dtype)
    # Data already on a GPU (a Tensor there, a CUDA array through DLPack) stays
    # there unless a device is named; everything else goes to the default device.
    target = device if device is not None else (t.device if t.device != "cpu" else _core.get_default_device())
    t = t.to(device=target)
    if requires_grad:
        t.requires_grad = True
    return t
